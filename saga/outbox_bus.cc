// OutboxBus: the public face of the choreography; the work is done by
// OutboxRelay (delivery) and outbox_store (SQL).
#include <fmt/format.h>

#include <map>
#include <memory>
#include <set>

#include "saga/outbox_context.h"
#include "saga/outbox_relay.h"
#include "saga/outbox_relay_threads.h"
#include "saga/outbox_schema.h"
#include "saga/outbox_store.h"
#include "twopc/outbox.h"

namespace twopc {

using internal::OutboxContext;
using internal::OutboxRelay;

class OutboxBusImpl {
 public:
  OutboxBusImpl(Coordinator& coordinator, OutboxOptions options, std::set<std::string> participants)
      : context(coordinator, options, std::move(participants)),
        threads(options.idle_poll, options.retry_max_backoff, context.warnings) {
    for (const std::string& p : context.participants) {
      relays.emplace(p, std::make_unique<OutboxRelay>(context, p));
    }
  }

  OutboxContext context;
  std::map<std::string, std::unique_ptr<OutboxRelay>> relays;  // one per participant
  // Declared last: destroyed (and so stopped) first, while the relays and the
  // context its threads use still exist.
  internal::RelayThreads threads;
};

namespace {

Status ValidateOptions(const OutboxOptions& o) {
  if (o.batch < 1) return Status::InvalidArgument("OutboxOptions::batch must be at least 1");
  if (o.relays_per_participant < 1) {
    return Status::InvalidArgument("OutboxOptions::relays_per_participant must be at least 1");
  }
  if (o.idle_poll.count() < 0 || o.retry_initial_backoff.count() < 0 ||
      o.retry_max_backoff.count() < 0) {
    return Status::InvalidArgument("OutboxOptions durations must not be negative");
  }
  return Status::OK();
}

std::set<std::string> ParticipantNames(const Coordinator& coordinator) {
  std::set<std::string> names;
  for (const ParticipantOptions& p : coordinator.options().participants) names.insert(p.name);
  return names;
}

}  // namespace

Result<std::unique_ptr<OutboxBus>> OutboxBus::Open(Coordinator& coordinator,
                                                   OutboxOptions options) {
  if (Status s = ValidateOptions(options); !s.ok()) return s;
  std::set<std::string> participants = ParticipantNames(coordinator);
  // Every participant, not only those with handlers: any of them may be the
  // source of an event, and a relay of another process may deliver to it.
  for (const std::string& p : participants) {
    if (Status s = internal::CreateOutboxSchema(coordinator, p); !s.ok()) {
      if (s.participant().empty()) s.WithParticipant(p);
      return s;
    }
  }
  auto impl = std::make_unique<OutboxBusImpl>(coordinator, options, std::move(participants));
  return std::unique_ptr<OutboxBus>(new OutboxBus(std::move(impl)));
}

OutboxBus::OutboxBus(std::unique_ptr<OutboxBusImpl> impl) : impl_(std::move(impl)) {}

OutboxBus::~OutboxBus() { StopRelays(); }

void OutboxBus::On(const std::string& target, const std::string& event, OutboxHandler handler) {
  impl_->context.handlers.Set(target, event, std::move(handler));
}

Status OutboxBus::Publish(const std::string& participant, const std::string& saga_id,
                          const std::function<Status(Transaction&)>& start,
                          const EmitEvent& first) {
  if (impl_->context.participants.count(participant) == 0) {
    return Status::InvalidArgument(fmt::format("no participant named '{}'", participant));
  }
  if (saga_id.empty()) return Status::InvalidArgument("Publish needs a saga id");
  if (Status s = internal::ValidateEmit(first, impl_->context.participants); !s.ok()) return s;
  Transaction tx = impl_->context.coordinator.Begin();
  if (start) {
    if (Status s = start(tx); !s.ok()) {
      (void)tx.Rollback();  // `s` is the cause worth reporting
      return s;
    }
  }
  // The event commits with the state change or not at all: no change without
  // its event, no event for a change that never happened.
  if (Status s = internal::QueueEmit(tx, participant, saga_id, first); !s.ok()) return s;
  return tx.Commit();
}

void OutboxBus::StartRelays() {
  std::vector<OutboxRelay*> relays;
  for (auto& [name, relay] : impl_->relays) relays.push_back(relay.get());
  impl_->threads.Start(relays, impl_->context.options.relays_per_participant);
}

void OutboxBus::StopRelays() { impl_->threads.Stop(); }

Result<int> OutboxBus::RelayOnce(const std::string& participant) {
  auto it = impl_->relays.find(participant);
  if (it == impl_->relays.end()) {
    return Status::InvalidArgument(fmt::format("no participant named '{}'", participant));
  }
  return it->second->RunRound();
}

Result<int64_t> OutboxBus::Pending() {
  int64_t total = 0;
  for (const std::string& p : impl_->context.participants) {
    auto n = internal::CountOutbox(impl_->context.coordinator, p);
    if (!n.ok()) return n.TakeStatus();
    total += n.value();
  }
  return total;
}

OutboxStats OutboxBus::stats() const { return impl_->context.counters.Snapshot(); }

}  // namespace twopc
