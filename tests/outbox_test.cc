// Choreographed sagas over the transactional outbox, against real PostgreSQL.
//
// Three participants -- orders, payments, inventory -- in one sandbox shared
// by every test. Each test starts from empty outboxes and inboxes and an
// effects(saga_id, applied) table on every participant: handlers that "count"
// an event upsert applied = applied + 1, so an effect applied twice shows.
#include <gtest/gtest.h>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "testing/child_process.h"
#include "testing/pg_sandbox.h"
#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/outbox.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using support::ChildExit;
using support::ChildProcess;
using Emits = Result<std::vector<EmitEvent>>;

constexpr std::array<const char*, 3> kDbs = {"orders", "payments", "inventory"};

// Applies one event's effect on `db`.
Status CountEffect(Transaction& tx, const std::string& db, const std::string& saga_id) {
  auto r = tx.Execute(db,
                      "INSERT INTO effects(saga_id, applied) VALUES ($1, 1) ON CONFLICT (saga_id)"
                      " DO UPDATE SET applied = effects.applied + 1",
                      {saga_id});
  return r.ok() ? Status::OK() : r.TakeStatus();
}

// A handler that counts the event where it runs and emits nothing.
OutboxHandler Counter(const std::string& db) {
  return [db](Transaction& tx, const OutboxEvent& e) -> Emits {
    if (Status s = CountEffect(tx, db, e.saga_id); !s.ok()) return s;
    return std::vector<EmitEvent>{};
  };
}

class OutboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SandboxOptions o;
    o.servers = 1;  // three databases, one server: participants are databases
    sandbox_ = PgSandbox::Start({kDbs.begin(), kDbs.end()}, o).release();
    ASSERT_NE(sandbox_, nullptr);
  }
  static void TearDownTestSuite() {
    delete sandbox_;
    sandbox_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(sandbox_, nullptr);
    char tmpl[] = "/tmp/twopc-outbox-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* db : kDbs) {
      sandbox_->Exec(db,
                     "SET client_min_messages = warning;"
                     "DROP TABLE IF EXISTS twopc_outbox, twopc_inbox, effects;"
                     "CREATE TABLE effects(saga_id text PRIMARY KEY, applied int NOT NULL)");
    }
    auto o = LoadConfigFile(sandbox_->config_path());
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    CoordinatorOptions opts = o.value();
    opts.node_id = "outbox-test";
    opts.log.path = dir_ + "/decisions.db";
    opts.recovery.interval = 0ms;
    auto c = Coordinator::Open(std::move(opts));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    coord_ = std::move(c.value());
  }

  void TearDown() override {
    coord_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<OutboxBus> OpenBus(OutboxOptions o = {}) {
    auto bus = OutboxBus::Open(*coord_, o);
    EXPECT_TRUE(bus.ok()) << bus.status().ToString();
    return bus.ok() ? std::move(bus.value()) : nullptr;
  }

  // Runs relay rounds in this thread until every outbox is empty.
  static ::testing::AssertionResult Drain(OutboxBus& bus, Clock::duration limit = 20s) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      for (const char* db : kDbs) {
        if (auto moved = bus.RelayOnce(db); !moved.ok()) {
          return ::testing::AssertionFailure() << moved.status().ToString();
        }
      }
      auto pending = bus.Pending();
      if (!pending.ok()) return ::testing::AssertionFailure() << pending.status().ToString();
      if (pending.value() == 0) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(5ms);  // rows waiting out a retry backoff
    }
    return ::testing::AssertionFailure() << "outboxes not empty after the deadline";
  }

  static bool WaitFor(const std::function<bool()>& done, Clock::duration limit = 30s) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return done();
  }

  static int64_t Count(const std::string& db, const std::string& where_sql) {
    return sandbox_->QueryInt(db, "SELECT count(*) FROM " + where_sql);
  }

  // Publishes `n` sagas "<prefix><i>" from orders: each counts itself in
  // orders.effects and emits `event` to payments, atomically.
  void PublishBacklog(OutboxBus& bus, int n, const std::string& event = "Step1",
                      const std::string& prefix = "s") {
    for (int i = 0; i < n; ++i) {
      const std::string saga = prefix + std::to_string(i);
      Status s = bus.Publish("orders", saga,
                             [&](Transaction& tx) { return CountEffect(tx, "orders", saga); },
                             {event, "payments", fmt::format(R"({{"n":{}}})", i)});
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  static inline PgSandbox* sandbox_ = nullptr;
  std::string dir_;
  std::unique_ptr<Coordinator> coord_;
};

// --- The order choreography: orders -> payments -> inventory -> orders ------

class OrderChoreographyTest : public OutboxTest {
 protected:
  void SetUp() override {
    OutboxTest::SetUp();
    sandbox_->Exec("orders",
                   "SET client_min_messages = warning;"
                   "DROP TABLE IF EXISTS shop_orders;"
                   "CREATE TABLE shop_orders(id text PRIMARY KEY, status text NOT NULL,"
                   " reason text)");
    sandbox_->Exec("payments",
                   "SET client_min_messages = warning;"
                   "DROP TABLE IF EXISTS wallets, charges;"
                   "CREATE TABLE wallets(customer bigint PRIMARY KEY,"
                   " balance bigint NOT NULL CHECK (balance >= 0));"
                   "CREATE TABLE charges(order_id text PRIMARY KEY, customer bigint NOT NULL,"
                   " amount bigint NOT NULL, status text NOT NULL);"
                   "INSERT INTO wallets VALUES (1, 1000), (2, 10)");
    sandbox_->Exec("inventory",
                   "SET client_min_messages = warning;"
                   "DROP TABLE IF EXISTS stock, reservations;"
                   "CREATE TABLE stock(item text PRIMARY KEY, qty int NOT NULL CHECK (qty >= 0));"
                   "CREATE TABLE reservations(order_id text PRIMARY KEY, item text NOT NULL,"
                   " qty int NOT NULL);"
                   "INSERT INTO stock VALUES ('book', 100), ('rare', 0)");
  }

  // Sets an order's final status once; a redelivered event could not flip it.
  static Emits SetOrderStatus(Transaction& tx, const OutboxEvent& e, const char* status,
                              Param reason) {
    auto r = tx.Execute("orders",
                        "UPDATE shop_orders SET status = $2, reason = $3"
                        " WHERE id = $1 AND status = 'pending'",
                        {e.saga_id, status, std::move(reason)});
    if (!r.ok()) return r.TakeStatus();
    return std::vector<EmitEvent>{};
  }

  // payments: charge the customer, or refuse (a business outcome, so it emits
  // a failure event and returns OK).
  static Emits Charge(Transaction& tx, const OutboxEvent& e) {
    auto p = nlohmann::json::parse(e.payload);
    const int64_t amount = p["amount"], customer = p["customer"];
    auto debit = tx.Execute("payments",
                            "UPDATE wallets SET balance = balance - $1"
                            " WHERE customer = $2 AND balance >= $1",
                            {amount, customer});
    if (!debit.ok()) return debit.TakeStatus();
    if (debit->affected() == 0) {
      return std::vector<EmitEvent>{{"PaymentDeclined", "orders", e.payload}};
    }
    auto charge = tx.Execute("payments", "INSERT INTO charges VALUES ($1, $2, $3, 'charged')",
                             {e.saga_id, customer, amount});
    if (!charge.ok()) return charge.TakeStatus();
    return std::vector<EmitEvent>{{"PaymentCharged", "inventory", e.payload}};
  }

  static Emits Reserve(Transaction& tx, const OutboxEvent& e) {
    auto p = nlohmann::json::parse(e.payload);
    const std::string item = p["item"];
    const int64_t qty = p["qty"];
    auto take = tx.Execute(
        "inventory", "UPDATE stock SET qty = qty - $1 WHERE item = $2 AND qty >= $1", {qty, item});
    if (!take.ok()) return take.TakeStatus();
    if (take->affected() == 0) return std::vector<EmitEvent>{{"OutOfStock", "payments", e.payload}};
    auto r = tx.Execute("inventory", "INSERT INTO reservations VALUES ($1, $2, $3)",
                        {e.saga_id, item, qty});
    if (!r.ok()) return r.TakeStatus();
    return std::vector<EmitEvent>{{"StockReserved", "orders", e.payload}};
  }

  static Emits Refund(Transaction& tx, const OutboxEvent& e) {
    auto charge = tx.Execute("payments",
                             "UPDATE charges SET status = 'refunded'"
                             " WHERE order_id = $1 AND status = 'charged'"
                             " RETURNING customer, amount",
                             {e.saga_id});
    if (!charge.ok()) return charge.TakeStatus();
    if (charge->size() != 1) return Status::Internal("refund without a charge: " + e.saga_id);
    auto credit =
        tx.Execute("payments", "UPDATE wallets SET balance = balance + $2 WHERE customer = $1",
                   {charge->Int(0, 0), charge->Int(0, 1)});
    if (!credit.ok()) return credit.TakeStatus();
    return std::vector<EmitEvent>{{"PaymentRefunded", "orders", e.payload}};
  }

  static void RegisterHandlers(OutboxBus& bus) {
    bus.On("payments", "OrderCreated", Charge);
    bus.On("inventory", "PaymentCharged", Reserve);
    bus.On("payments", "OutOfStock", Refund);
    bus.On("orders", "StockReserved", [](Transaction& tx, const OutboxEvent& e) {
      return SetOrderStatus(tx, e, "confirmed", nullptr);
    });
    bus.On("orders", "PaymentDeclined", [](Transaction& tx, const OutboxEvent& e) {
      return SetOrderStatus(tx, e, "cancelled", "payment_declined");
    });
    bus.On("orders", "PaymentRefunded", [](Transaction& tx, const OutboxEvent& e) {
      return SetOrderStatus(tx, e, "cancelled", "out_of_stock");
    });
  }

  static Status PlaceOrder(OutboxBus& bus, const std::string& id, int customer,
                           const std::string& item, int amount) {
    auto payload =
        nlohmann::json{{"customer", customer}, {"item", item}, {"qty", 1}, {"amount", amount}};
    return bus.Publish(
        "orders", id,
        [&](Transaction& tx) {
          return tx.Queue("orders", "INSERT INTO shop_orders VALUES ($1, 'pending', NULL)", {id});
        },
        {"OrderCreated", "payments", payload.dump()});
  }

  // "status/reason" of an order.
  static std::string OrderState(const std::string& order) {
    auto rows = sandbox_->Query("orders",
                                "SELECT status || '/' || coalesce(reason, '')"
                                " FROM shop_orders WHERE id = '" +
                                    order + "'");
    return rows.empty() ? "" : rows[0][0];
  }
};

TEST_F(OrderChoreographyTest, OrdersAreConfirmedOrCancelledEverywhere) {
  OutboxOptions o;
  o.relays_per_participant = 2;
  auto bus = OpenBus(o);
  ASSERT_NE(bus, nullptr);
  RegisterHandlers(*bus);
  bus->StartRelays();
  constexpr int kEach = 8;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(PlaceOrder(*bus, fmt::format("ok-{}", i), 1, "book", 30).ok());
    ASSERT_TRUE(PlaceOrder(*bus, fmt::format("declined-{}", i), 2, "book", 50).ok());
    ASSERT_TRUE(PlaceOrder(*bus, fmt::format("oos-{}", i), 1, "rare", 40).ok());
  }
  EXPECT_TRUE(WaitFor([&] {
    return Count("orders", "shop_orders WHERE status = 'pending'") == 0 && bus->Pending().ok() &&
           bus->Pending().value() == 0;
  }));
  bus->StopRelays();
  ASSERT_EQ(bus->Pending().value(), 0);

  for (int i = 0; i < kEach; ++i) {
    const std::string ok = fmt::format("ok-{}", i), declined = fmt::format("declined-{}", i),
                      oos = fmt::format("oos-{}", i);
    EXPECT_EQ(OrderState(ok), "confirmed/");
    EXPECT_EQ(Count("payments", "charges WHERE status = 'charged' AND order_id = '" + ok + "'"), 1);
    EXPECT_EQ(Count("inventory", "reservations WHERE order_id = '" + ok + "'"), 1);

    EXPECT_EQ(OrderState(declined), "cancelled/payment_declined");
    EXPECT_EQ(Count("payments", "charges WHERE order_id = '" + declined + "'"), 0);
    EXPECT_EQ(Count("inventory", "reservations WHERE order_id = '" + declined + "'"), 0);

    EXPECT_EQ(OrderState(oos), "cancelled/out_of_stock");
    EXPECT_EQ(Count("payments", "charges WHERE status = 'refunded' AND order_id = '" + oos + "'"),
              1);
    EXPECT_EQ(Count("inventory", "reservations WHERE order_id = '" + oos + "'"), 0);
  }
  // Money and stock: only the confirmed orders moved anything.
  EXPECT_EQ(sandbox_->QueryInt("payments", "SELECT balance FROM wallets WHERE customer = 1"),
            1000 - 30 * kEach);
  EXPECT_EQ(sandbox_->QueryInt("payments", "SELECT balance FROM wallets WHERE customer = 2"), 10);
  EXPECT_EQ(sandbox_->QueryInt("inventory", "SELECT qty FROM stock WHERE item = 'book'"),
            100 - kEach);
  EXPECT_EQ(sandbox_->QueryInt("inventory", "SELECT qty FROM stock WHERE item = 'rare'"), 0);
  // ok: 3 events, declined: 2, out of stock: 4.
  OutboxStats st = bus->stats();
  EXPECT_EQ(st.delivered, uint64_t{kEach} * (3 + 2 + 4));
  EXPECT_EQ(st.duplicates, 0u);
  EXPECT_EQ(st.handler_errors, 0u);
  EXPECT_EQ(st.unhandled, 0u);
}

// --- Publish ----------------------------------------------------------------

TEST_F(OutboxTest, PublishCommitsTheEventWithItsChangeOrNeither) {
  auto bus = OpenBus();
  ASSERT_NE(bus, nullptr);
  Status refused = bus->Publish("orders", "s1",
                                [](Transaction& tx) -> Status {
                                  if (Status s = CountEffect(tx, "orders", "s1"); !s.ok()) return s;
                                  return Status::Aborted("business refusal after the write");
                                },
                                {"Step1", "payments", "{}"});
  EXPECT_TRUE(refused.IsAborted()) << refused.ToString();
  EXPECT_EQ(Count("orders", "effects"), 0);
  EXPECT_EQ(bus->Pending().value(), 0);

  EXPECT_TRUE(
      bus->Publish("orders", "s2", nullptr, {"Step1", "nowhere", "{}"}).IsInvalidArgument());
  EXPECT_TRUE(
      bus->Publish("orders", "s2", nullptr, {"Step1", "payments", "{oops"}).IsInvalidArgument());
  EXPECT_EQ(bus->Pending().value(), 0);

  ASSERT_TRUE(bus->Publish("orders", "s3", nullptr, {"Step1", "payments", ""}).ok());
  EXPECT_EQ(bus->Pending().value(), 1);
  EXPECT_EQ(sandbox_->Query("orders", "SELECT payload::text FROM twopc_outbox")[0][0], "{}");
}

// --- Exactly once when the relay process is killed --------------------------

class RelayKillTest : public OutboxTest {
 protected:
  std::unique_ptr<ChildProcess> SpawnChild(const std::string& mode,
                                           const std::vector<std::string>& env = {}) {
    std::string error;
    auto child = ChildProcess::Spawn(
        {OUTBOX_RELAY_CHILD_PATH, sandbox_->config_path(), dir_ + "/child-decisions.db", mode}, env,
        dir_ + "/child.stderr", &error);
    EXPECT_NE(child, nullptr) << error;
    return child;
  }

  std::string ChildStderr() const {
    std::ifstream in(dir_ + "/child.stderr");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Events committed on their target (key in its inbox) but still in their
  // source outbox: the window between delivery and delete.
  static int64_t DeliveredButNotDeleted() {
    int64_t n = 0;
    using Pair = std::pair<std::string, std::string>;
    for (const auto& [source, target] :
         {Pair{"orders", "payments"}, Pair{"payments", "inventory"}}) {
      std::set<std::string> inbox;
      for (auto& row : sandbox_->Query(target, "SELECT event_key FROM twopc_inbox")) {
        inbox.insert(row[0]);
      }
      for (auto& row : sandbox_->Query(source, "SELECT id FROM twopc_outbox")) {
        n += inbox.count(source + ":" + row[0]);
      }
    }
    return n;
  }
};

TEST_F(RelayKillTest, ExactlyOnceWhenRelayIsKilled) {
  constexpr int kSagas = 1200;
  auto bus = OpenBus();
  ASSERT_NE(bus, nullptr);
  PublishBacklog(*bus, kSagas);
  ASSERT_EQ(bus->Pending().value(), kSagas);
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());

#ifdef TWOPC_SYNC_POINTS
  {
    // First a kill exactly in the window: the relay dies right after an
    // event committed on its target, before the source outbox row is gone.
    const int k = std::uniform_int_distribution(3, 40)(rng);
    auto child = SpawnChild("relay", {fmt::format("TWOPC_CRASH_AT=outbox_after_deliver:{}", k)});
    ASSERT_NE(child, nullptr);
    auto exit = child->Wait(Clock::now() + 60s);
    ASSERT_TRUE(exit.has_value()) << "child did not reach outbox_after_deliver:" << k;
    ASSERT_TRUE(exit->KilledBySigkill()) << exit->ToString() << "\n" << ChildStderr();
    EXPECT_GT(DeliveredButNotDeleted(), 0);
  }
#endif
  // Then SIGKILLs at random moments while the relays work.
  std::string kills;
  for (int round = 0; round < 5; ++round) {
    auto child = SpawnChild("relay");
    ASSERT_NE(child, nullptr);
    auto ready = child->ReadLine(Clock::now() + 30s);
    ASSERT_EQ(ready.value_or("<none>"), "READY") << ChildStderr();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution(20, 250)(rng)));
    ChildExit exit = child->KillAndWait();
    EXPECT_TRUE(exit.KilledBySigkill()) << exit.ToString() << "\n" << ChildStderr();
    // For the record: how far the backlog got, and how many events the kill
    // caught between delivery and delete.
    kills +=
        fmt::format("pending={} window={}; ", bus->Pending().value(), DeliveredButNotDeleted());
  }
  ::testing::Test::RecordProperty("kills", kills);
  // A last process drains what is left, redeliveries included.
  auto drain = SpawnChild("drain");
  ASSERT_NE(drain, nullptr);
  auto drained = drain->ReadLine(Clock::now() + 120s);
  ASSERT_TRUE(drained.has_value() && drained->starts_with("DRAINED")) << ChildStderr();
  ::testing::Test::RecordProperty("drain", *drained);  // delivered duplicates errors
  auto exit = drain->Wait(Clock::now() + 30s);
  ASSERT_TRUE(exit.has_value() && exit->exited && exit->exit_code == 0) << ChildStderr();

  EXPECT_EQ(bus->Pending().value(), 0);
  for (const char* db : kDbs) {
    SCOPED_TRACE(db);
    EXPECT_EQ(Count(db, "twopc_outbox"), 0);
    EXPECT_EQ(Count(db, "effects"), kSagas);
    EXPECT_EQ(Count(db, "effects WHERE applied <> 1"), 0);
  }
  EXPECT_EQ(Count("payments", "twopc_inbox"), kSagas);
  EXPECT_EQ(Count("inventory", "twopc_inbox"), kSagas);
}

// --- Concurrent relays ------------------------------------------------------

TEST_F(OutboxTest, ConcurrentRelaysDeliverEachEventOnce) {
  constexpr int kSagasPerSource = 150;
  OutboxOptions o;
  o.relays_per_participant = 3;
  o.batch = 4;  // small batches: more rounds, more chances to collide
  auto bus = OpenBus(o);
  ASSERT_NE(bus, nullptr);
  // Every saga hops over all three participants: Hop on t0, t1, t2.
  for (size_t i = 0; i < kDbs.size(); ++i) {
    const std::string db = kDbs[i], next = kDbs[(i + 1) % kDbs.size()];
    bus->On(db, "Hop", [db, next](Transaction& tx, const OutboxEvent& e) -> Emits {
      if (Status s = CountEffect(tx, db, e.saga_id); !s.ok()) return s;
      const int hops = nlohmann::json::parse(e.payload)["hops"];
      if (hops == 2) return std::vector<EmitEvent>{};
      return std::vector<EmitEvent>{{"Hop", next, fmt::format(R"({{"hops":{}}})", hops + 1)}};
    });
  }
  bus->StartRelays();
  // Publishers on every participant while the relays run.
  std::vector<std::thread> publishers;
  std::atomic<int> publish_failures{0};
  for (size_t i = 0; i < kDbs.size(); ++i) {
    publishers.emplace_back([&, i] {
      const std::string source = kDbs[i], target = kDbs[(i + 1) % kDbs.size()];
      for (int n = 0; n < kSagasPerSource; ++n) {
        Status s = bus->Publish(source, fmt::format("{}-{}", source, n), nullptr,
                                {"Hop", target, R"({"hops":0})"});
        if (!s.ok()) publish_failures++;
      }
    });
  }
  for (std::thread& t : publishers) t.join();
  ASSERT_EQ(publish_failures.load(), 0);
  constexpr int kEvents = 3 * kSagasPerSource * 3;
  EXPECT_TRUE(WaitFor([&] { return bus->stats().delivered >= kEvents; }, 60s));
  bus->StopRelays();

  EXPECT_EQ(bus->Pending().value(), 0);
  OutboxStats st = bus->stats();
  EXPECT_EQ(st.delivered, uint64_t{kEvents});
  // SKIP LOCKED hands each row to one relay: without it, two relays would
  // deliver the same rows and the inbox would have to drop duplicates.
  EXPECT_EQ(st.duplicates, 0u);
  EXPECT_EQ(st.handler_errors + st.delivery_errors, 0u);
  for (const char* db : kDbs) {
    SCOPED_TRACE(db);
    EXPECT_EQ(Count(db, "effects"), 3 * kSagasPerSource);
    EXPECT_EQ(Count(db, "effects WHERE applied <> 1"), 0);
  }
}

// --- Failures ---------------------------------------------------------------

TEST_F(OutboxTest, HandlerErrorLeavesEventUntilHandlerIsFixed) {
  auto bus = OpenBus();
  ASSERT_NE(bus, nullptr);
  std::atomic<bool> broken{true};
  bus->On("payments", "Step1", [&](Transaction& tx, const OutboxEvent& e) -> Emits {
    if (Status s = CountEffect(tx, "payments", e.saga_id); !s.ok()) return s;
    if (broken) return Status::Unavailable("downstream API is down");
    return std::vector<EmitEvent>{};
  });
  PublishBacklog(*bus, 1);

  auto moved = bus->RelayOnce("orders");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved.value(), 0);
  EXPECT_EQ(bus->stats().handler_errors, 1u);
  EXPECT_EQ(bus->Pending().value(), 1);
  // The handler's write and the inbox key were rolled back with it.
  EXPECT_EQ(Count("payments", "effects"), 0);
  EXPECT_EQ(Count("payments", "twopc_inbox"), 0);

  broken = false;
  ASSERT_TRUE(Drain(*bus));
  EXPECT_EQ(Count("payments", "effects WHERE applied = 1"), 1);
  EXPECT_EQ(bus->stats().delivered, 1u);
  EXPECT_EQ(bus->stats().duplicates, 0u);
}

TEST_F(OutboxTest, PoisonEventIsRetriedWithBackoffNotInALoop) {
  OutboxOptions o;
  o.idle_poll = 1ms;
  o.retry_initial_backoff = 10ms;
  o.retry_max_backoff = 1000ms;
  auto bus = OpenBus(o);
  ASSERT_NE(bus, nullptr);
  std::atomic<int> calls{0};
  bus->On("payments", "Poison", [&](Transaction&, const OutboxEvent&) -> Emits {
    calls++;
    return Status::Internal("cannot handle this one");
  });
  bus->On("payments", "Step1", Counter("payments"));
  PublishBacklog(*bus, 1, "Poison", "poison-");
  PublishBacklog(*bus, 1, "Step1", "good-");  // behind the poison one: must not be held up
  bus->StartRelays();
  std::this_thread::sleep_for(600ms);
  bus->StopRelays();
  // Retries at about 0, 10, 30, 70, 150, 310 ms: six, not hundreds.
  EXPECT_GE(calls.load(), 2);
  EXPECT_LE(calls.load(), 12);
  EXPECT_EQ(bus->stats().handler_errors, static_cast<uint64_t>(calls.load()));
  EXPECT_EQ(bus->stats().delivered, 1u);
  EXPECT_EQ(Count("orders", "twopc_outbox WHERE event = 'Poison'"), 1);
}

TEST_F(OutboxTest, EventWithoutHandlerIsNotDeleted) {
  auto bus = OpenBus();
  ASSERT_NE(bus, nullptr);
  bus->On("payments", "Step1", Counter("payments"));
  PublishBacklog(*bus, 1, "Mystery", "mystery-");
  PublishBacklog(*bus, 1, "Step1", "known-");
  bus->StartRelays();
  EXPECT_TRUE(WaitFor([&] { return bus->stats().delivered == 1 && bus->stats().unhandled >= 2; }));
  bus->StopRelays();

  EXPECT_EQ(bus->Pending().value(), 1);
  EXPECT_EQ(Count("orders", "twopc_outbox WHERE event = 'Mystery'"), 1);
  EXPECT_EQ(Count("payments", "twopc_inbox"), 1);  // only Step1's key was claimed
  EXPECT_EQ(bus->stats().handler_errors + bus->stats().delivery_errors, 0u);

  // Registering a handler later delivers it.
  bus->On("payments", "Mystery", Counter("payments"));
  ASSERT_TRUE(Drain(*bus));
  EXPECT_EQ(Count("payments", "effects WHERE applied = 1"), 2);
  EXPECT_EQ(bus->stats().delivered, 2u);
}

}  // namespace
}  // namespace twopc::testing
