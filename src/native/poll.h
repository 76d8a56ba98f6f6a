// Busy polling: keeps the CPU, but saves the wake-up from epoll (tens of
// microseconds on a VM) for a packet that arrives soon after the last, such
// as the reply to one just forwarded.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace vtep {

constexpr size_t kMaxSpinFds = 64;

// Index of a readable descriptor among fds[0..n), or -1 after `usec`
// microseconds with none (n is capped at kMaxSpinFds).
int SpinPoll(const int32_t* fds, size_t n, int64_t usec);

}  // namespace vtep
