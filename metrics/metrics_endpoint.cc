#include "metrics/metrics_endpoint.h"

#include "common/listen_address.h"

#include <atomic>
#include <exception>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fmt/format.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

namespace twopc::internal {

// What the exposer serves: the registry, after `before_scrape`.
class MetricsEndpoint::Collectable : public prometheus::Collectable {
 public:
  Collectable(std::shared_ptr<prometheus::Registry> registry, std::function<void()> before_scrape)
      : registry_(std::move(registry)), before_scrape_(std::move(before_scrape)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    if (before_scrape_) before_scrape_();
    return registry_->Collect();
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::function<void()> before_scrape_;
};

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& listen,
                                                                std::shared_ptr<prometheus::Registry> registry,
                                                                std::function<void()> before_scrape) {
  auto parsed = ParseListenAddress(listen);
  if (!parsed.ok()) {
    return Status::InvalidArgument("metrics listen address '" + listen + "': " + parsed.status().message());
  }
  // civetweb takes IPv6 in brackets, as the config writes it.
  bool v6 = parsed->host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + parsed->host + "]" : parsed->host;
  // civetweb binds numeric addresses only.
  if (host == "localhost") host = "127.0.0.1";
  int port = parsed->port;
  std::string bind = fmt::format("{}:{}", host, port);
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint);
  endpoint->collectable_ = std::make_shared<Collectable>(std::move(registry), std::move(before_scrape));
  try {
    // One serving thread: a scrape every few seconds needs no more, and a
    // coordinator's threads are the application's.
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(bind, 1);
  } catch (const std::exception& e) {
    return Status::Unavailable(fmt::format(
        "cannot serve metrics at {}: {} (is the port in use, or the host not an address of this "
        "machine?)", listen, e.what()));
  }
  endpoint->exposer_->RegisterCollectable(endpoint->collectable_);
  std::vector<int> ports = endpoint->exposer_->GetListeningPorts();
  endpoint->address_ = fmt::format("{}:{}", host, ports.empty() ? port : ports.front());
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() {
  if (exposer_ == nullptr) return;
  // civetweb's listener polls with a 2-second timeout and looks for the stop
  // request only between polls, so destroying the exposer would hold up the
  // coordinator's destructor for up to 2 s. A connection to the listening
  // port wakes the poll at once.
  namespace asio = boost::asio;
  asio::io_context io;
  std::string host = address_.substr(0, address_.rfind(':'));
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto endpoints = asio::ip::tcp::resolver(io).resolve(host, address_.substr(address_.rfind(':') + 1), ec);
  std::atomic<bool> stopped{false};
  std::thread waker;
  if (!ec) {
    waker = std::thread([&] {
      while (!stopped.load()) {
        // Bounded: an address whose SYNs are dropped (a firewall) must not
        // keep the destructor waiting for the kernel's connect timeout.
        asio::ip::tcp::socket socket(io);
        asio::async_connect(socket, endpoints, [](const boost::system::error_code&, const auto&) {});
        io.run_for(std::chrono::milliseconds(100));
        io.restart();
        boost::system::error_code ignored;
        socket.close(ignored);
        io.poll();  // the cancelled connect's handler
        io.restart();
      }
    });
  }
  exposer_.reset();
  stopped = true;
  if (waker.joinable()) waker.join();
}

}  // namespace twopc::internal
