// A plain HTTP GET for the tests: scraping a /metrics endpoint, asking a
// Prometheus server's API. libcurl (it comes with prometheus-cpp-dev).
#pragma once

#include <chrono>
#include <string>

#include "twopc/status.h"

namespace twopc::testing {

// The body of a 200 answer. Anything else is an error naming the URL and
// what happened (connection refused, status 404, timeout...).
Result<std::string> HttpGet(const std::string& url,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));

// `text` with every byte outside [A-Za-z0-9-._~] percent-encoded: a query
// parameter (a PromQL expression) in a URL.
std::string UrlEncode(const std::string& text);

}  // namespace twopc::testing
