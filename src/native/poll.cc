#include "poll.h"

#include <poll.h>
#include <time.h>

namespace vtep {

namespace {

int64_t NowUs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

}  // namespace

int SpinPoll(const int32_t* fds, size_t n, int64_t usec) {
  if (n > kMaxSpinFds) n = kMaxSpinFds;
  pollfd p[kMaxSpinFds];
  for (size_t i = 0; i < n; i++) p[i] = {fds[i], POLLIN, 0};
  const int64_t deadline = NowUs() + usec;
  for (;;) {
    if (poll(p, n, 0) > 0) {
      for (size_t i = 0; i < n; i++)
        if (p[i].revents & POLLIN) return static_cast<int>(i);
    }
    if (NowUs() >= deadline) return -1;
  }
}

}  // namespace vtep
