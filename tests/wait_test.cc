// Tests of common/wait.h: the one way twopc waits for an asynchronous call.
// The late-callback tests are the point: with a std::promise on the waiting
// frame they are a use after free (reported by the ASan preset).
#include "common/wait.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace twopc::internal {
namespace {

using namespace std::chrono_literals;

TEST(WaitTest, AwaitCallbackReturnsWhatTheCallbackWasGivenOnAnotherThread) {
  std::thread worker;
  std::string got = AwaitCallback<std::string>([&](auto done) {
    worker = std::thread([done = std::move(done)] { done(std::string(1000, 'x')); });
  });
  worker.join();
  EXPECT_EQ(got, std::string(1000, 'x'));
}

TEST(WaitTest, CallbackCalledAfterTheWaiterGaveUpIsHarmless) {
  std::function<void(std::string)> late;
  {
    Answer<std::string> answer;
    late = answer.Callback();
    EXPECT_FALSE(answer.WaitUntil(std::chrono::steady_clock::now() + 10ms).has_value());
  }
  // The waiter gave up: its Answer, and its frame, are gone. The call must
  // touch only state the callback holds; dropping it frees that state.
  late(std::string(1000, 'y'));
  late = nullptr;
}

TEST(WaitTest, CallbackStillRunningWhenTheWaiterReturnedIsHarmless) {
  // The worker delivers the answer, then uses its callback again after the
  // waiter certainly returned and destroyed its Answer: the shape of a
  // writer thread still inside set_value() when future.get() returned.
  std::atomic<bool> waiter_returned{false};
  std::thread worker;
  int got = AwaitCallback<int>([&](auto done) {
    worker = std::thread([done = std::move(done), &waiter_returned] {
      done(1);
      while (!waiter_returned) std::this_thread::yield();
      done(2);  // a second call is ignored, and touches only live state
    });
  });
  waiter_returned = true;
  worker.join();
  EXPECT_EQ(got, 1);
}

TEST(WaitTest, OnlyTheFirstAnswerCounts) {
  Answer<int> answer;
  auto done = answer.Callback();
  done(7);
  done(8);
  EXPECT_EQ(answer.Wait(), 7);
}

TEST(WaitTest, ManyAnswersWaitedForInAnyOrder) {
  std::vector<Answer<int>> answers(8);
  std::vector<std::thread> workers;
  for (int i = 0; i < 8; ++i) {
    workers.emplace_back([done = answers[i].Callback(), i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(8 - i));
      done(i);
    });
  }
  for (int i = 0; i < 8; ++i) EXPECT_EQ(answers[i].Wait(), i);
  for (auto& w : workers) w.join();
}

TEST(WaitTest, WaitUntilReturnsAnAnswerThatCameInTime) {
  Answer<int> answer;
  std::thread worker([done = answer.Callback()] { done(3); });
  auto got = answer.WaitUntil(std::chrono::steady_clock::now() + 10s);
  worker.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 3);
}

}  // namespace
}  // namespace twopc::internal
