#include "bench/charts.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "bench/svg_chart.h"

namespace twopc::bench {
namespace {

using Group = std::vector<const PointResult*>;
using KeyFn = std::function<std::string(const PointSpec&)>;

// One color per mode in every chart, so that a reader learns them once.
std::string ModeColor(Mode m) {
  switch (m) {
    case Mode::kLocal:
      return "#7f7f7f";
    case Mode::kNone:
      return "#2b2b2b";
    case Mode::kTwoPc:
      return "#1f77b4";
    case Mode::kTwoPcEarlyAck:
      return "#17becf";
    case Mode::kSaga:
      return "#ff7f0e";
    case Mode::kSagaOutbox:
      return "#d62728";
    case Mode::kNull:
      return "#2ca02c";
  }
  return "";
}

std::map<std::string, Group> GroupBy(const std::vector<PointResult>& points, const KeyFn& key) {
  std::map<std::string, Group> groups;
  for (const auto& p : points) {
    if (p.error.empty() || p.attempted > 0) groups[key(p.spec)].push_back(&p);
  }
  return groups;
}

std::string FileName(const std::string& base, const std::string& key, size_t groups) {
  return groups > 1 ? fmt::format("{}_{}.svg", base, key) : base + ".svg";
}

// Modes in the order of first appearance (the --mode order).
std::vector<Mode> ModesOf(const Group& g) {
  std::vector<Mode> modes;
  for (const auto* p : g) {
    if (std::find(modes.begin(), modes.end(), p->spec.mode) == modes.end()) {
      modes.push_back(p->spec.mode);
    }
  }
  return modes;
}

// "2pc" or "2pc-pg": one invocation has one decision store.
std::string SeriesName(Mode m, const Group& g) {
  for (const auto* p : g) {
    if (p->spec.mode == m) return ModeLabel(p->spec);
  }
  return ModeName(m);
}

ChartSeries SeriesFor(Mode m, const Group& g, const std::function<double(const PointResult&)>& x,
                      const std::function<double(const PointResult&)>& y) {
  ChartSeries s{SeriesName(m, g), ModeColor(m), false, {}};
  for (const auto* p : g) {
    if (p->spec.mode == m) s.points.emplace_back(x(*p), y(*p));
  }
  return s;
}

template <class T>
std::set<T> Distinct(const Group& g, const std::function<T(const PointSpec&)>& f) {
  std::set<T> out;
  for (const auto* p : g) out.insert(f(p->spec));
  return out;
}

std::string Subtitle(const PointSpec& s) {
  return fmt::format("{} workload, {} participants", WorkloadName(s.workload), s.participants);
}

void ClientCharts(const std::vector<PointResult>& points, std::vector<Chart>* out) {
  auto groups = GroupBy(points, [](const PointSpec& s) {
    return fmt::format("k{}_h{}_f{}", s.participants, s.hot_set, s.failure_rate);
  });
  for (const auto& [key, g] : groups) {
    const PointSpec& s0 = g.front()->spec;
    std::string where =
        fmt::format("{}, {}{}", Subtitle(s0),
                    s0.hot_set == 0 ? "uniform picks" : fmt::format("hot set {}", s0.hot_set),
                    s0.failure_rate > 0 ? fmt::format(", failure rate {}", s0.failure_rate) : "");
    auto clients = Distinct<int>(g, [](const PointSpec& s) { return s.clients; });
    if (clients.size() > 1) {
      LineChart tput{
          "Throughput vs clients", where, "clients", "committed / s", {}, true, false, {}};
      LineChart lat{"Latency vs clients (p50 solid, p99 dashed)",
                    where,
                    "clients",
                    "latency (ms)",
                    {},
                    true,
                    true,
                    {}};
      for (Mode m : ModesOf(g)) {
        auto cx = [](const PointResult& p) { return static_cast<double>(p.spec.clients); };
        tput.series.push_back(
            SeriesFor(m, g, cx, [](const PointResult& p) { return p.committed_per_s; }));
        lat.series.push_back(
            SeriesFor(m, g, cx, [](const PointResult& p) { return p.latency.p50; }));
        ChartSeries p99 = SeriesFor(m, g, cx, [](const PointResult& p) { return p.latency.p99; });
        p99.name += " p99";
        p99.dashed = true;
        lat.series.push_back(p99);
      }
      out->push_back({FileName("throughput_vs_clients", key, groups.size()), RenderSvg(tput)});
      out->push_back({FileName("latency_vs_clients", key, groups.size()), RenderSvg(lat)});
    }
    // Percentiles at the largest client count: where the modes differ most.
    int c = *clients.rbegin();
    LineChart pct{fmt::format("Latency percentiles at {} clients", c),
                  where,
                  "percentile",
                  "latency (ms)",
                  {},
                  false,
                  true,
                  {{0, "p50"}, {1, "p95"}, {2, "p99"}, {3, "max"}}};
    for (Mode m : ModesOf(g)) {
      for (const auto* p : g) {
        if (p->spec.mode != m || p->spec.clients != c) continue;
        pct.series.push_back(
            {ModeLabel(p->spec),
             ModeColor(m),
             false,
             {{0, p->latency.p50}, {1, p->latency.p95}, {2, p->latency.p99}, {3, p->latency.max}}});
      }
    }
    out->push_back({FileName("latency_percentiles", key, groups.size()), RenderSvg(pct)});
  }
}

void ContentionCharts(const std::vector<PointResult>& points, std::vector<Chart>* out) {
  auto groups = GroupBy(points, [](const PointSpec& s) {
    return fmt::format("k{}_c{}_f{}", s.participants, s.clients, s.failure_rate);
  });
  for (const auto& [key, g] : groups) {
    auto hots = Distinct<int64_t>(g, [](const PointSpec& s) { return s.hot_set; });
    if (hots.size() < 2) continue;
    // Contention grows to the right: uniform first, then ever smaller hot sets.
    std::vector<int64_t> order(hots.begin(), hots.end());
    std::sort(order.begin(), order.end(), [](int64_t a, int64_t b) {
      if (a == 0 || b == 0) return a == 0 && b != 0;
      return a > b;
    });
    std::map<int64_t, double> pos;
    LineChart chart;
    for (size_t i = 0; i < order.size(); ++i) {
      pos[order[i]] = static_cast<double>(i);
      chart.x_categories.emplace_back(static_cast<double>(i),
                                      order[i] == 0 ? "uniform" : std::to_string(order[i]));
    }
    const PointSpec& s0 = g.front()->spec;
    chart.title = "Throughput vs contention";
    chart.subtitle = fmt::format("{}, {} clients", Subtitle(s0), s0.clients);
    chart.x_label = "hot set (90% of picks go to this many accounts)";
    chart.y_label = "committed / s";
    for (Mode m : ModesOf(g)) {
      chart.series.push_back(SeriesFor(
          m, g, [&](const PointResult& p) { return pos[p.spec.hot_set]; },
          [](const PointResult& p) { return p.committed_per_s; }));
    }
    out->push_back({FileName("throughput_vs_hotset", key, groups.size()), RenderSvg(chart)});
  }
}

void FailureCharts(const std::vector<PointResult>& points, std::vector<Chart>* out) {
  auto groups = GroupBy(points, [](const PointSpec& s) {
    return fmt::format("k{}_c{}_h{}", s.participants, s.clients, s.hot_set);
  });
  for (const auto& [key, g] : groups) {
    auto rates = Distinct<double>(g, [](const PointSpec& s) { return s.failure_rate; });
    if (rates.size() < 2) continue;
    const PointSpec& s0 = g.front()->spec;
    LineChart chart{"Throughput vs business failures",
                    fmt::format("{}, {} clients", Subtitle(s0), s0.clients),
                    "business failure rate",
                    "committed / s",
                    {},
                    false,
                    false,
                    {}};
    for (Mode m : ModesOf(g)) {
      chart.series.push_back(SeriesFor(
          m, g, [](const PointResult& p) { return p.spec.failure_rate; },
          [](const PointResult& p) { return p.committed_per_s; }));
    }
    out->push_back({FileName("throughput_vs_failure", key, groups.size()), RenderSvg(chart)});
  }
}

}  // namespace

std::vector<Chart> BuildCharts(const std::vector<PointResult>& points) {
  std::vector<Chart> out;
  ClientCharts(points, &out);
  ContentionCharts(points, &out);
  FailureCharts(points, &out);
  return out;
}

}  // namespace twopc::bench
