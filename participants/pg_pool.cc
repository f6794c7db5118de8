#include "participants/pg_pool.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace twopc::internal {

namespace asio = boost::asio;

struct PgPool::Waiter {
  explicit Waiter(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  AcquireCallback done;  // empty once answered
};

PgPool::PgPool(asio::io_context& io, ParticipantOptions options,
               std::chrono::milliseconds connect_timeout)
    : io_(io), options_(std::move(options)), connect_timeout_(connect_timeout) {}

int PgPool::open_connections() const {
  std::lock_guard lock(mutex_);
  return open_;
}

void PgPool::Acquire(Deadline deadline, AcquireCallback done) {
  std::unique_lock lock(mutex_);
  while (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    if (conn->broken()) {
      --open_;
      continue;
    }
    lock.unlock();
    done(std::move(conn));
    return;
  }
  if (open_ < options_.max_connections) {
    ++open_;
    lock.unlock();
    Connect(deadline, std::move(done));
    return;
  }
  // Every connection is lent out: wait for one to come back.
  auto waiter = std::make_shared<Waiter>(io_);
  waiter->done = std::move(done);
  waiters_.push_back(waiter);
  lock.unlock();
  waiter->timer.expires_at(deadline);
  std::weak_ptr<PgPool> weak = weak_from_this();
  waiter->timer.async_wait([weak, waiter](const boost::system::error_code& ec) {
    if (ec) return;
    auto pool = weak.lock();
    if (!pool) return;
    AcquireCallback done;
    {
      std::lock_guard lock(pool->mutex_);
      if (!waiter->done) return;
      done = std::move(waiter->done);
      pool->waiters_.remove(waiter);
    }
    done(Status::TimedOut("all " + std::to_string(pool->options_.max_connections) +
                          " connections are in use (max_connections)")
             .WithParticipant(pool->options_.name));
  });
}

void PgPool::Connect(Deadline deadline, AcquireCallback done) {
  auto self = shared_from_this();
  deadline = std::min(deadline, Clock::now() + connect_timeout_);
  PgConnection::AsyncConnect(
      io_, options_.name, options_.conninfo, deadline,
      [self, done = std::move(done)](Result<std::shared_ptr<PgConnection>> conn) {
        if (!conn.ok()) {
          {
            std::lock_guard lock(self->mutex_);
            --self->open_;
          }
          done(std::move(conn));
          return;
        }
        done(std::move(conn));
      },
      options_.application_name);
}

void PgPool::Release(std::shared_ptr<PgConnection> conn) {
  if (conn == nullptr) return;
  if (conn->broken() || conn->InTransaction()) {
    conn.reset();  // closes it (if not already): the server rolls back
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(mutex_);
      --open_;
      if (!waiters_.empty()) {
        // A slot is free again: connect anew for the oldest waiter.
        waiter = waiters_.front();
        waiters_.pop_front();
        ++open_;
      }
    }
    if (waiter) {
      waiter->timer.cancel();
      auto deadline = waiter->timer.expiry();
      AcquireCallback done;
      {
        std::lock_guard lock(mutex_);
        done = std::move(waiter->done);
      }
      if (done) {
        Connect(deadline, std::move(done));
      } else {
        std::lock_guard lock(mutex_);  // its timer answered it first
        --open_;
      }
    }
    return;
  }
  Hand(std::move(conn));
}

void PgPool::Hand(std::shared_ptr<PgConnection> conn) {
  AcquireCallback done;
  {
    std::lock_guard lock(mutex_);
    while (!waiters_.empty() && !done) {
      auto waiter = waiters_.front();
      waiters_.pop_front();
      waiter->timer.cancel();
      done = std::move(waiter->done);
    }
    if (!done) {
      idle_.push_back(std::move(conn));
      return;
    }
  }
  // Not called under the lock: the waiter may Acquire/Release at once.
  asio::post(io_, [done = std::move(done), conn = std::move(conn)]() mutable { done(std::move(conn)); });
}

void PgPool::Clear() {
  std::lock_guard lock(mutex_);
  open_ -= static_cast<int>(idle_.size());
  idle_.clear();
}

}  // namespace twopc::internal
