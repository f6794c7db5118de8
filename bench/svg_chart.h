// A line chart written as SVG text: axes with ticks and labels, a title, one
// polyline per series with its points marked, and a legend. Enough for the
// benchmark's charts without gnuplot or any other tool on the machine.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace twopc::bench {

struct ChartSeries {
  std::string name;
  std::string color;  // CSS color; empty picks one from a palette
  bool dashed = false;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in x order
};

struct LineChart {
  std::string title;
  std::string subtitle;  // a smaller second line: what was held fixed
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
  // Logarithmic axes (values <= 0 are left out). A log x axis puts its
  // ticks at the x values of the data, e.g. 1, 8, 32, 64 clients.
  bool log_x = false;
  bool log_y = false;
  // Named x positions (categories such as "p50", "uniform"); replaces the
  // numeric x ticks when not empty.
  std::vector<std::pair<double, std::string>> x_categories;
};

// The complete SVG document.
std::string RenderSvg(const LineChart& chart);

// Escapes text for an XML text node or attribute.
std::string XmlEscape(const std::string& text);

}  // namespace twopc::bench
