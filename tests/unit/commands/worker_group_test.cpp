#include "commands/worker_group.h"

#include <gtest/gtest.h>

#include <atomic>

namespace hm::commands {
namespace {

using namespace std::chrono_literals;

TEST(WorkerGroupTest, WaitsForEveryThreadAndRunsTheExitHookOfEach) {
  StopSignal stop;
  std::atomic<int> ran{0}, exited{0};
  WorkerGroup group(3, stop, [&](int) { ++ran; }, [&](int) { ++exited; });
  EXPECT_TRUE(group.wait(1s));
  EXPECT_EQ(ran, 3);
  EXPECT_EQ(exited, 3);
  EXPECT_EQ(group.running(), 0);
  EXPECT_FALSE(group.crashed());
}

TEST(WorkerGroupTest, AThreadThatThrowsStopsTheOthers) {
  StopSignal stop;
  WorkerGroup group(3, stop, [&](int i) {
    if (i == 1) throw std::runtime_error("boom");
    stop.wait_for(5s);  // returns at once when the group stops them, else after 5 s
  });
  EXPECT_TRUE(group.wait(5s));
  EXPECT_TRUE(group.crashed());
  EXPECT_TRUE(stop.requested());
}

TEST(WorkerGroupTest, ShutdownIsBoundedWhenAThreadIgnoresTheStop) {
  StopSignal stop;
  std::atomic<bool> release{false};
  WorkerGroup group(2, stop, [&](int i) {
    if (i == 0) {
      while (!release) std::this_thread::sleep_for(1ms);  // a batch that will not finish
    } else {
      stop.wait_for(10s);
    }
  });
  stop.request();
  EXPECT_FALSE(group.wait(50ms));
  EXPECT_EQ(group.running(), 1);
  release = true;
  EXPECT_TRUE(group.wait(5s));  // and then it can be joined
}

}  // namespace
}  // namespace hm::commands
