# Cross-compiling for ARM64 Linux with Debian's g++-aarch64-linux-gnu (target libraries under
# /usr/aarch64-linux-gnu). Binaries run on x86 hosts through qemu-user (package qemu-user).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
# Another cross compiler may be given with -DCMAKE_CXX_COMPILER=..., e.g. clang++ with
# -DCMAKE_CXX_COMPILER_TARGET=aarch64-linux-gnu (and the same for C).
if(NOT CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
endif()
if(NOT CMAKE_CXX_COMPILER)
  set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
endif()
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
# The whole binary also needs zmq, CBC, cpp-httplib, ... for the target: Debian's multiarch arm64
# packages (libzmq3-dev:arm64, ...; scripts/deps.sh) put them in /usr/lib/aarch64-linux-gnu, with
# the architecture-independent headers and CMake packages under /usr. The kernel-only build
# (scripts/test_arm.sh) needs none of them.
if(EXISTS /usr/lib/aarch64-linux-gnu/pkgconfig)
  list(APPEND CMAKE_FIND_ROOT_PATH /)
  set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
  # Only the target's .pc files; never the host's.
  set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
  set(ENV{PKG_CONFIG_PATH} "")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# ctest and try_run go through it; -L finds the target's dynamic loader and libraries.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
