#include "saga/saga_ids.h"

#include <fmt/format.h>

#include <random>

namespace twopc::internal {

SagaIdGenerator::SagaIdGenerator() {
  std::random_device entropy;
  uint64_t bits = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
  prefix_ = fmt::format("{:016x}", bits);
}

std::string SagaIdGenerator::Next() {
  return fmt::format("{}-{}", prefix_, next_.fetch_add(1, std::memory_order_relaxed));
}

}  // namespace twopc::internal
