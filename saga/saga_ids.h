// Saga ids: "<16 hex digits>-<n>", at most 37 characters of [0-9a-f-].
//
// The id is the first part of every idempotency key in the participants'
// twopc_saga_applied tables, which every orchestrator using those databases
// shares -- whatever its saga log. A counter alone would repeat after a
// restart, and two orchestrators with different logs would hand out the same
// ids; either would make a new saga's step look "already applied". So each
// generator starts from 64 random bits, drawn once per orchestrator.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace twopc::internal {

// Thread-safe.
class SagaIdGenerator {
 public:
  SagaIdGenerator();
  std::string Next();

 private:
  std::string prefix_;
  std::atomic<uint64_t> next_{1};
};

}  // namespace twopc::internal
