#include "bench/disk_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "bench/stats.h"

namespace twopc::bench {

double ProbeFlushMicros(const std::string& dir, int count) {
  std::string path = dir + "/.twopc-bench-flush-probe";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  std::vector<char> page(4096, 'x');
  std::vector<double> samples;
  for (int i = 0; i < count; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    // Rewrites the same few pages, as a log's tail would be.
    if (pwrite(fd, page.data(), page.size(), static_cast<off_t>(i % 4) * 4096) < 0 ||
        fdatasync(fd) != 0) {
      samples.clear();
      break;
    }
    samples.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  close(fd);
  unlink(path.c_str());
  return samples.empty() ? -1 : Median(samples);
}

}  // namespace twopc::bench
