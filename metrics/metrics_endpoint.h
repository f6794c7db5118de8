// The HTTP endpoint that serves GET /metrics in the Prometheus text format
// ([metrics] listen; docs/operations.md, "Metrics"). prometheus-cpp's
// Exposer (civetweb) does the HTTP and the format. Internal.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "twopc/status.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace twopc::internal {

class MetricsEndpoint {
 public:
  // Serves `registry` at http://<listen>/metrics. `before_scrape` runs at
  // every scrape first (it refreshes the gauges that are read, not
  // counted). InvalidArgument for an address that is not "host:port";
  // Unavailable naming the address when it cannot be bound (in use, not an
  // address of this host).
  static Result<std::unique_ptr<MetricsEndpoint>> Start(const std::string& listen,
                                                        std::shared_ptr<prometheus::Registry> registry,
                                                        std::function<void()> before_scrape);
  ~MetricsEndpoint();

  // "127.0.0.1:9464": the address bound, with the port picked when the
  // configured one was 0.
  const std::string& address() const { return address_; }

 private:
  class Collectable;
  MetricsEndpoint() = default;

  std::shared_ptr<Collectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

}  // namespace twopc::internal
