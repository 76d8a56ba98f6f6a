{
  "targets": [
    {
      "target_name": "vtep_native",
      "sources": [
        "src/native/binding.cc",
        "src/native/batch_io.cc",
        "src/native/coalesce.cc",
        "src/native/frame.cc",
        "src/native/channel.cc",
        "src/native/inject.cc",
        "src/native/nexthop.cc",
        "src/native/packet_io.cc",
        "src/native/service.cc",
        "src/native/poll.cc",
        "src/native/sockets.cc",
        "src/native/tso.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
