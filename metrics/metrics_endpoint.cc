#include "metrics/metrics_endpoint.h"

#include <atomic>
#include <charconv>
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

Status ParseListenAddress(const std::string& listen, std::string* host, int* port) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(fmt::format(
        R"(metrics listen address '{}' {}; expected host:port, e.g. "127.0.0.1:9464" or "[::1]:9464")",
        listen, why));
  };
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("has no host:port form");
  std::string h = listen.substr(0, colon);
  std::string p = listen.substr(colon + 1);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return bad("has an unclosed IPv6 bracket");
  } else if (h.find(':') != std::string::npos) {
    return bad("has an IPv6 host without brackets");
  }
  int value = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || value < 0 || value > 65535) {
    return bad("has no port number 0-65535");
  }
  *host = h;
  *port = value;
  return Status::OK();
}

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& listen,
                                                                std::shared_ptr<prometheus::Registry> registry,
                                                                std::function<void()> before_scrape) {
  std::string host;
  int port = 0;
  if (Status s = ParseListenAddress(listen, &host, &port); !s.ok()) return s;
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint);
  endpoint->collectable_ = std::make_shared<Collectable>(std::move(registry), std::move(before_scrape));
  try {
    // One serving thread: a scrape every few seconds needs no more, and a
    // coordinator's threads are the application's.
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
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
        asio::ip::tcp::socket socket(io);
        boost::system::error_code ignored;
        asio::connect(socket, endpoints, ignored);
        socket.close(ignored);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  exposer_.reset();
  stopped = true;
  if (waker.joinable()) waker.join();
}

}  // namespace twopc::internal
