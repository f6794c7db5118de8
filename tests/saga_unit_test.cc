// The saga engine's pieces that need no PostgreSQL server: step-failure
// classification, the circuit breaker, the saga definition's JSON form.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "saga/circuit_breaker.h"
#include "saga/saga_json.h"
#include "saga/step_failure.h"
#include "twopc/saga.h"
#include "twopc/status.h"

namespace twopc::testing {

using namespace std::chrono_literals;
namespace {

TEST(SagaFailureTest, ClassificationFollowsTheSqlState) {
  using internal::ClassifyStepFailure;
  using internal::StepFailure;
  auto sql = [](const char* state) { return Status::SqlError("x").WithSqlState(state); };
  EXPECT_EQ(ClassifyStepFailure(sql("23514")), StepFailure::kRefused);
  EXPECT_EQ(ClassifyStepFailure(sql("23505")), StepFailure::kRefused);
  EXPECT_EQ(ClassifyStepFailure(sql("22003")), StepFailure::kRefused);
  EXPECT_EQ(ClassifyStepFailure(sql("P0001")), StepFailure::kRefused);
  EXPECT_EQ(ClassifyStepFailure(sql("40001")), StepFailure::kTransient);
  EXPECT_EQ(ClassifyStepFailure(sql("40P01")), StepFailure::kTransient);
  EXPECT_EQ(ClassifyStepFailure(sql("55P03")), StepFailure::kTransient);
  EXPECT_EQ(ClassifyStepFailure(Status::Aborted("commit").WithSqlState("40001")),
            StepFailure::kTransient);
  EXPECT_EQ(ClassifyStepFailure(Status::Unavailable("lost").WithSqlState("57P01")),
            StepFailure::kTransient);
  EXPECT_EQ(ClassifyStepFailure(Status::TimedOut("deadline")), StepFailure::kTransient);
  EXPECT_EQ(ClassifyStepFailure(Status::InDoubt("commit lost")), StepFailure::kInDoubt);
}

TEST(SagaBreakerTest, HalfOpenLetsOneProbeThrough) {
  internal::CircuitBreaker breaker(2, 50ms);
  EXPECT_TRUE(breaker.Allow());
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  breaker.RecordSuccess();  // resets the count: failures must be consecutive
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  EXPECT_FALSE(breaker.Allow());
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
  EXPECT_TRUE(breaker.Allow());   // the probe
  EXPECT_FALSE(breaker.Allow());  // only one at a time
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  std::this_thread::sleep_for(60ms);
  EXPECT_TRUE(breaker.Allow());
  breaker.RecordSuccess();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker.Allow());
}

TEST(SagaJsonTest, DefinitionRoundTripsWithNullAndText) {
  Saga saga{"order",
            {{"pay", "payments", {{"SELECT $1, $2, $3", {nullptr, "it's", 42}}}, {}, true}}};
  auto json = internal::SagaToJson(saga);
  ASSERT_TRUE(json.ok());
  auto back = internal::SagaFromJson(*json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->steps.size(), 1u);
  const SagaStep& step = back->steps[0];
  EXPECT_EQ(step.participant, "payments");
  EXPECT_TRUE(step.require_rows);
  EXPECT_TRUE(step.compensation.empty());
  ASSERT_EQ(step.action[0].params.size(), 3u);
  EXPECT_TRUE(step.action[0].params[0].is_null());
  EXPECT_EQ(*step.action[0].params[1].text(), "it's");
  EXPECT_EQ(*step.action[0].params[2].text(), "42");
  EXPECT_TRUE(internal::SagaFromJson("{\"format\": 99}").status().IsCorruption());
  Saga bad{"bad", {{"x", "p", {{"SELECT $1", {std::string("\xff")}}}, {}}}};
  EXPECT_TRUE(internal::SagaToJson(bad).status().IsInvalidArgument());
}

}  // namespace
}  // namespace twopc::testing
