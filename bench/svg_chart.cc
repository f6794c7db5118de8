#include "bench/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

namespace twopc::bench {
namespace {

constexpr double kWidth = 760, kHeight = 460;
constexpr double kLeft = 80, kRight = 200, kTop = 66, kBottom = 64;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

// 1, 2 or 5 times a power of ten: steps a reader can add up in their head.
double NiceStep(double raw) {
  if (raw <= 0) return 1;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

std::string TickLabel(double v) {
  double a = std::fabs(v);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", std::round(v * 1000) / 1000);
}

// Maps data values to pixels on one axis, linear or logarithmic.
struct Axis {
  bool log = false;
  double lo = 0, hi = 1;  // in axis units (log10 / log2 of the value when log)
  double base = 10;

  double Unit(double v) const { return log ? std::log(v) / std::log(base) : v; }
  double Frac(double v) const { return hi > lo ? (Unit(v) - lo) / (hi - lo) : 0.5; }
};

struct Tick {
  double value;
  std::string label;
};

// Linear ticks covering [lo, hi], and the axis extended to the outer ticks.
std::vector<Tick> LinearTicks(double lo, double hi, Axis* axis) {
  if (hi <= lo) hi = lo + 1;
  double step = NiceStep((hi - lo) / 5);
  axis->lo = std::floor(lo / step) * step;
  axis->hi = std::ceil(hi / step) * step;
  std::vector<Tick> ticks;
  for (double v = axis->lo; v <= axis->hi + step / 2; v += step) ticks.push_back({v, TickLabel(v)});
  return ticks;
}

bool Usable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderSvg(const LineChart& chart) {
  double xmin = std::numeric_limits<double>::max(), xmax = std::numeric_limits<double>::lowest();
  double ymin = xmin, ymax = xmax;
  std::set<double> xs;
  for (const auto& s : chart.series) {
    for (auto [x, y] : s.points) {
      if (!Usable(x, chart.log_x) || !Usable(y, chart.log_y)) continue;
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
      xs.insert(x);
    }
  }
  if (xs.empty()) xmin = 0, xmax = 1, ymin = 0, ymax = 1;

  Axis ax, ay;
  std::vector<Tick> xticks, yticks;
  if (!chart.x_categories.empty()) {
    for (const auto& [pos, name] : chart.x_categories) {
      xticks.push_back({pos, name});
      xmin = std::min(xmin, pos), xmax = std::max(xmax, pos);
    }
    ax.lo = xmin - 0.5, ax.hi = xmax + 0.5;
  } else if (chart.log_x) {
    ax.log = true, ax.base = 2;
    ax.lo = std::log2(xmin), ax.hi = std::log2(xmax);
    double pad = std::max(0.25, (ax.hi - ax.lo) * 0.05);
    ax.lo -= pad, ax.hi += pad;
    for (double x : xs) xticks.push_back({x, TickLabel(x)});
  } else {
    xticks = LinearTicks(xmin, xmax, &ax);
  }
  if (chart.log_y) {
    ay.log = true, ay.base = 10;
    ay.lo = std::floor(std::log10(ymin)), ay.hi = std::ceil(std::log10(ymax));
    if (ay.hi <= ay.lo) ay.hi = ay.lo + 1;
    for (double d = ay.lo; d <= ay.hi; ++d) {
      for (double m : {1.0, 2.0, 5.0}) {
        double v = m * std::pow(10.0, d);
        if (std::log10(v) <= ay.hi + 1e-9) yticks.push_back({v, TickLabel(v)});
      }
    }
  } else {
    yticks = LinearTicks(std::min(0.0, ymin), ymax * 1.05, &ay);
  }
  auto px = [&](double x) { return kLeft + ax.Frac(x) * kPlotW; };
  auto py = [&](double y) { return kTop + (1 - ay.Frac(y)) * kPlotH; };

  std::ostringstream o;
  o << fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight);
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << fmt::format(
      "<text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
      "font-weight=\"bold\">{}</text>\n",
      kLeft + kPlotW / 2, XmlEscape(chart.title));
  if (!chart.subtitle.empty()) {
    o << fmt::format("<text x=\"{}\" y=\"48\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n",
                     kLeft + kPlotW / 2, XmlEscape(chart.subtitle));
  }
  // Grid and ticks.
  for (const auto& t : yticks) {
    double y = py(t.value);
    o << fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>\n",
                     kLeft, y, kLeft + kPlotW, y);
    o << fmt::format(
        "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" dominant-baseline=\"middle\">"
        "{}</text>\n",
        kLeft - 8, y, XmlEscape(t.label));
  }
  for (const auto& t : xticks) {
    double x = px(t.value);
    o << fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#e5e5e5\"/>\n",
                     x, kTop, x, kTop + kPlotH);
    o << fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x,
                     kTop + kPlotH + 18, XmlEscape(t.label));
  }
  // Axes and their labels.
  o << fmt::format("<path d=\"M{0} {1} V{2} H{3}\" fill=\"none\" stroke=\"#333\"/>\n", kLeft, kTop,
                   kTop + kPlotH, kLeft + kPlotW);
  o << fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", kLeft + kPlotW / 2,
                   kHeight - 18, XmlEscape(chart.x_label));
  o << fmt::format(
      "<text transform=\"translate(20 {}) rotate(-90)\" text-anchor=\"middle\">{}"
      "</text>\n",
      kTop + kPlotH / 2, XmlEscape(chart.y_label));
  // Series and legend.
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& s = chart.series[i];
    std::string color = s.color.empty() ? kPalette[i % std::size(kPalette)] : s.color;
    std::string dash = s.dashed ? " stroke-dasharray=\"6 4\"" : "";
    auto pts = s.points;
    std::sort(pts.begin(), pts.end());
    std::string path;
    for (auto [x, y] : pts) {
      if (!Usable(x, chart.log_x) || !Usable(y, chart.log_y)) continue;
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", px(x), py(y));
      o << fmt::format(
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{}: {}"
          "</title></circle>\n",
          px(x), py(y), color, XmlEscape(s.name), TickLabel(y));
    }
    if (!path.empty()) {
      o << fmt::format(
          "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", path,
          color, dash);
    }
    double ly = kTop + 10 + 20 * static_cast<double>(i);
    double lx = kLeft + kPlotW + 16;
    o << fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" "
        "stroke-width=\"2\"{}/>\n",
        lx, ly, lx + 24, ly, color, dash);
    o << fmt::format("<text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">{}</text>\n", lx + 30,
                     ly, XmlEscape(s.name));
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace twopc::bench
