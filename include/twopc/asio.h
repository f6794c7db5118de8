// Boost.Asio completion-token adapters for Transaction's async calls.
//
// The only public header that includes Asio: the rest of twopc's API stays
// free of Asio, libpq and SQLite types. With it, a transaction reads like
// straight-line code in a coroutine:
//
//   boost::asio::awaitable<twopc::Status> Transfer(twopc::Coordinator& c) {
//     using boost::asio::use_awaitable;
//     twopc::Transaction tx = c.Begin();
//     auto rows = co_await twopc::async_execute(tx, "orders", "SELECT 1", {}, use_awaitable);
//     ...
//     co_return co_await twopc::async_commit(tx, use_awaitable);
//   }
//
// Any completion token works (use_awaitable, use_future, a plain callback,
// bind_executor(strand, ...)). The completion runs on the handler's
// associated executor; a handler without one runs on a coordinator I/O
// thread and must not block.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>

#include "twopc/coordinator.h"

namespace twopc {
namespace asio_detail {

// Wraps a (move-only) Asio handler into the copyable std::function that the
// callback API takes, and delivers the result on the handler's executor.
template <class Handler, class T>
auto Deliver(Handler handler) {
  auto executor = boost::asio::get_associated_executor(handler);
  auto shared = std::make_shared<Handler>(std::move(handler));
  return [shared, executor](T value) {
    boost::asio::dispatch(executor, [shared, value = std::move(value)]() mutable {
      (*shared)(std::move(value));
    });
  };
}

}  // namespace asio_detail

// Completion signature: void(twopc::Result<twopc::Rows>).
// REQUIRES: `tx` outlives the operation.
template <class CompletionToken>
auto async_execute(Transaction& tx, std::string_view participant, std::string sql,
                   std::vector<Param> params, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(Result<Rows>)>(
      [&tx](auto handler, std::string p, std::string s, std::vector<Param> ps) {
        tx.ExecuteAsync(p, std::move(s), std::move(ps),
                        asio_detail::Deliver<decltype(handler), Result<Rows>>(std::move(handler)));
      },
      token, std::string(participant), std::move(sql), std::move(params));
}

// Completion signature: void(twopc::Status) -- OK, Aborted or InDoubt.
template <class CompletionToken>
auto async_commit(Transaction& tx, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(Status)>(
      [&tx](auto handler) {
        tx.CommitAsync(asio_detail::Deliver<decltype(handler), Status>(std::move(handler)));
      },
      token);
}

// Completion signature: void(twopc::Status).
template <class CompletionToken>
auto async_rollback(Transaction& tx, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(Status)>(
      [&tx](auto handler) {
        tx.RollbackAsync(asio_detail::Deliver<decltype(handler), Status>(std::move(handler)));
      },
      token);
}

}  // namespace twopc
