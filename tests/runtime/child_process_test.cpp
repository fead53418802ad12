// ChildProcess: readiness through a file with a deadline, early failure when the child exits,
// and stopping it, with /bin/sh as the child.
#include <gtest/gtest.h>

#include <fstream>

#include <unistd.h>

#include "runtime/child_process.h"
#include "temp_dir.h"

namespace ll::runtime {
namespace {

std::unique_ptr<ChildProcess> sh(const std::string& script, const std::string& log = "") {
  SpawnOptions o;
  o.log_file = log;
  auto c = ChildProcess::spawn("/bin/sh", {"sh", "-c", script}, o);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return c.is_ok() ? std::move(*c) : nullptr;
}

TEST(ChildProcess, WaitsForTheReadyFile) {
  const std::string ready = testing::temp_path("child_ready");
  // The file appears complete (renamed) after the child has done some work.
  auto c = sh("i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo tcp://x:1 > " + ready +
              ".tmp; mv " + ready + ".tmp " + ready + "; exec sleep 600");
  ASSERT_TRUE(c);
  auto line = c->wait_for_file(ready, 60);
  ASSERT_TRUE(line.is_ok()) << line.status().to_string();
  EXPECT_EQ(*line, "tcp://x:1");
  EXPECT_FALSE(c->exit_status().has_value());
  c->terminate(5);
  EXPECT_EQ(c->exit_status().value_or(""), "killed by signal 15");
}

TEST(ChildProcess, ExitBeforeReadyFailsAtOnceWithTheLog) {
  const std::string log = testing::temp_path("child_log");
  auto c = sh("echo 'bad flag --frobnicate' >&2; exit 3", log);
  ASSERT_TRUE(c);
  // A long deadline: the failure must come from the exit, not from the deadline.
  auto line = c->wait_for_file(testing::temp_path("never_written"), 600);
  ASSERT_FALSE(line.is_ok());
  EXPECT_NE(line.status().message().find("exited with status 3"), std::string::npos)
      << line.status().message();
  EXPECT_NE(line.status().message().find("bad flag --frobnicate"), std::string::npos);
  EXPECT_EQ(c->exit_code(), 3);
}

TEST(ChildProcess, DeadlinePassesWhenNothingIsWritten) {
  auto c = sh("exec sleep 600");
  ASSERT_TRUE(c);
  auto line = c->wait_for_file(testing::temp_path("not_yet"), 0.05);
  ASSERT_FALSE(line.is_ok());
  EXPECT_NE(line.status().message().find("within the deadline"), std::string::npos);
}

TEST(ChildProcess, TerminateEscalatesToKill) {
  const std::string ready = testing::temp_path("trap_ready");
  // Ignores SIGTERM; tells us once the trap is set.
  auto c = sh("trap '' TERM; echo up > " + ready + "; while :; do sleep 1; done");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->wait_for_file(ready, 60).is_ok());
  c->terminate(0.2);
  EXPECT_EQ(c->exit_status().value_or(""), "killed by signal 9");
}

// The free wait (used by `lingualinked wait-ready` for processes that are not our children).
TEST(WaitForFirstLine, ReturnsTheLineOrStopsWhenTheWatchedProcessExits) {
  const std::string ready = testing::temp_path("free_ready");
  auto writer =
      sh("echo http://h:1 > " + ready + ".tmp; mv " + ready + ".tmp " + ready + "; exec sleep 600");
  ASSERT_TRUE(writer);
  const int fd = open_pidfd(writer->pid());
  ASSERT_GE(fd, 0);
  auto line = wait_for_first_line(ready, 60, fd);
  close(fd);
  ASSERT_TRUE(line.is_ok()) << line.status().to_string();
  EXPECT_EQ(*line, "http://h:1");

  auto quitter = sh("exit 0");
  ASSERT_TRUE(quitter);
  const int qfd = open_pidfd(quitter->pid());
  ASSERT_GE(qfd, 0);
  // A long deadline: the failure must come from the exit, not from the deadline.
  auto none = wait_for_first_line(testing::temp_path("never_free"), 600, qfd);
  close(qfd);
  ASSERT_FALSE(none.is_ok());
  EXPECT_EQ(none.status().code(), StatusCode::kCancelled) << none.status().to_string();

  auto late = wait_for_first_line(testing::temp_path("never_either"), 0.05);
  ASSERT_FALSE(late.is_ok());
  EXPECT_EQ(late.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(late.status().message().find("within the deadline"), std::string::npos);
}

TEST(ChildProcess, MissingProgramIsAnError) {
  auto c = ChildProcess::spawn("/nonexistent/lingualinked", {"lingualinked"});
  // posix_spawn reports exec failure as an error, or as a child exiting with 127.
  if (c.is_ok()) {
    ASSERT_TRUE((*c)->wait_exit(60));
    EXPECT_EQ((*c)->exit_code(), 127);
  } else {
    EXPECT_NE(c.status().message().find("/nonexistent/lingualinked"), std::string::npos);
  }
}

}  // namespace
}  // namespace ll::runtime
