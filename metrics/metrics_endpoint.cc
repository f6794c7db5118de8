#include "metrics/metrics_endpoint.h"

#include <charconv>
#include <exception>

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
        "metrics listen address '{}' {}; expected host:port, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\"",
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

MetricsEndpoint::~MetricsEndpoint() = default;

}  // namespace twopc::internal
