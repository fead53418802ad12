// A scratch directory per test process, so tests leave nothing behind in /tmp.
//
// ctest runs each test in its own process, several at once (-j), so each process gets its own
// directory from mkdtemp and names inside it need not be unique across processes. The directory
// is removed recursively when the process exits normally (also after failed tests); a crash or a
// timeout kill leaves it behind, named ll_test_<binary>_XXXXXX so it is easy to spot.
// Child processes may write into it, but must be stopped before the test process exits.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace ll::testing {

inline const std::string& temp_dir() {
  struct Dir {
    std::string path;
    pid_t owner = ::getpid();
    Dir() {
      const char* env = std::getenv("TMPDIR");
      std::string name = program_invocation_short_name;  // e.g. test_e2e
      if (name.rfind("test_", 0) == 0) name.erase(0, 5);
      path = std::string(env && *env ? env : "/tmp") + "/ll_test_" + name + "_XXXXXX";
      if (!::mkdtemp(path.data())) {
        std::perror(("mkdtemp " + path).c_str());
        std::abort();  // every caller needs the directory; failing later would be less clear
      }
    }
    ~Dir() {
      // A forked child that exits normally must not delete its parent's directory.
      if (::getpid() != owner) return;
      std::error_code ec;  // best effort: never throw from a destructor at exit
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;  // created on first use, destroyed at exit
  return dir.path;
}

// A path inside temp_dir(); nothing is created.
inline std::string temp_path(const std::string& name) {
  return temp_dir() + "/" + name;
}

}  // namespace ll::testing
