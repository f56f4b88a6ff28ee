// The sweep's throughput-latency plot as a self-contained SVG: committed
// ops/s on a linear x axis, latency percentiles on a log y axis, one point
// per run labelled with the swept value.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "report.h"

namespace synod::bench {

namespace {

constexpr double kWidth = 860, kHeight = 540;
constexpr double kLeft = 90, kRight = 40, kTop = 70, kBottom = 70;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// 1, 2 or 5 times a power of ten, at least v.
double nice_step(double v) {
  double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v) return m * p;
  return 10 * p;
}

std::string si(double v) {
  if (v >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", v);
}

std::string duration_label(double us) {
  if (us >= 1e6) return fmt::format("{:g} s", us / 1e6);
  if (us >= 1e3) return fmt::format("{:g} ms", us / 1e3);
  return fmt::format("{:g} us", us);
}

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

struct Axes {
  double x_max = 1;  // ops/s at the right edge
  double x_step = 1;
  double y_lo_exp = 0, y_hi_exp = 1;  // log10 of the latency range, in us

  double x(double ops) const { return kLeft + ops / x_max * kPlotW; }
  double y(double us) const {
    double e = std::log10(std::max(us, 1e-3));
    return kTop + kPlotH - (e - y_lo_exp) / (y_hi_exp - y_lo_exp) * kPlotH;
  }
};

Axes axes_for(const std::vector<SweepPoint>& points) {
  Axes a;
  double x_hi = 1, y_lo = 1e18, y_hi = 0;
  for (const SweepPoint& p : points) {
    x_hi = std::max(x_hi, p.f.ops_per_sec);
    for (double v : {p.f.p50_us, p.f.p99_us, p.f.p999_us}) {
      if (v <= 0) continue;
      y_lo = std::min(y_lo, v);
      y_hi = std::max(y_hi, v);
    }
  }
  if (y_hi <= 0) y_lo = 1, y_hi = 10;
  a.x_step = nice_step(x_hi / 5);
  a.x_max = std::ceil(x_hi * 1.05 / a.x_step) * a.x_step;
  a.y_lo_exp = std::floor(std::log10(y_lo));
  a.y_hi_exp = std::max(std::ceil(std::log10(y_hi)), a.y_lo_exp + 1);
  return a;
}

std::string grid(const Axes& a) {
  std::string s;
  for (double v = 0; v <= a.x_max + a.x_step / 2; v += a.x_step) {
    double x = a.x(v);
    s += fmt::format(R"(<line x1="{:.1f}" y1="{}" x2="{:.1f}" y2="{}" stroke="#ddd"/>)"
                     "\n",
                     x, kTop, x, kTop + kPlotH);
    s += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)"
                     "\n",
                     x, kTop + kPlotH + 18, si(v));
  }
  for (double e = a.y_lo_exp; e <= a.y_hi_exp; ++e) {
    double us = std::pow(10.0, e), y = a.y(us);
    s += fmt::format(R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="#ccc"/>)"
                     "\n",
                     kLeft, y, kLeft + kPlotW, y);
    s += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end">{}</text>)"
                     "\n",
                     kLeft - 8, y + 4, duration_label(us));
    for (int m = 2; m <= 9 && e < a.y_hi_exp; ++m) {
      double ym = a.y(us * m);
      s += fmt::format(R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="#f0f0f0"/>)"
                       "\n",
                       kLeft, ym, kLeft + kPlotW, ym);
    }
  }
  s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#444"/>)"
                   "\n",
                   kLeft, kTop, kPlotW, kPlotH);
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">committed ops/s</text>)"
                   "\n",
                   kLeft + kPlotW / 2, kHeight - 28);
  s += fmt::format(
      R"svg(<text transform="translate(22,{}) rotate(-90)" text-anchor="middle">latency (log scale)</text>)svg"
      "\n",
      kTop + kPlotH / 2);
  return s;
}

struct Series {
  const char* name;
  const char* color;
  double Figures::*field;
};

std::string series(const Axes& a, const std::vector<SweepPoint>& points, const Series& s,
                   bool labels, const std::string& param) {
  std::string path, dots, text;
  for (const SweepPoint& p : points) {
    double v = p.f.*s.field;
    if (v <= 0) continue;
    double x = a.x(p.f.ops_per_sec), y = a.y(v);
    path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", x, y);
    dots += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}"/>)"
                        "\n",
                        x, y, s.color);
    if (labels)
      text += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="11" fill="#333">{}={}</text>)"
                          "\n",
                          x + 6, y + 14, escape(param), p.value);
  }
  return fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="2"/>)"
                     "\n",
                     path, s.color) +
         dots + text;
}

}  // namespace

std::string sweep_svg(const BenchOptions& o, const std::vector<SweepPoint>& points,
                      const Context& c) {
  Axes a = axes_for(points);
  const Series all[] = {{"p50", "#1f77b4", &Figures::p50_us},
                        {"p99", "#d62728", &Figures::p99_us},
                        {"p99.9", "#ff7f0e", &Figures::p999_us}};
  std::string s = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif" font-size="12">)"
      "\n"
      R"(<rect width="100%" height="100%" fill="white"/>)"
      "\n",
      kWidth, kHeight, kWidth, kHeight);
  s += fmt::format(
      R"(<text x="{}" y="26" font-size="16" font-weight="bold">synod-bench: throughput and latency, sweeping {}</text>)"
      "\n",
      kLeft, escape(o.sweep_name));
  // The swept setting shows as "*": its values label the points.
  auto field = [&](std::string_view name, std::uint64_t v) {
    return fmt::format("{}={}", name, name == o.sweep_name ? std::string("*") : std::to_string(v));
  };
  std::string settings = fmt::format(
      "transport={} {} {} {} {} {} {} storage={}", to_string(o.transport),
      field("replicas", o.replicas), field("value-bytes", o.value_bytes),
      field("clients", o.clients), field("outstanding", o.outstanding),
      field("batch-max", o.batch_max), field("inflight-max", o.inflight_max), to_string(o.storage));
  s += fmt::format(R"(<text x="{}" y="46" font-size="11" fill="#555">{}; nproc {}</text>)"
                   "\n",
                   kLeft, escape(settings), c.machine.nproc);
  std::string runs =
      o.repeat > 1 ? fmt::format("each point the median of {} runs; ", o.repeat) : "";
  s += fmt::format(R"(<text x="{}" y="60" font-size="10" fill="#777">{}{}</text>)"
                   "\n",
                   kLeft, runs, escape(c.machine.uname));
  s += grid(a);
  for (std::size_t i = 0; i < std::size(all); ++i) {
    s += series(a, points, all[i], i == 0, o.sweep_name);
    double ly = kTop + 16 + 18 * static_cast<double>(i);
    s += fmt::format(
        R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="{}" stroke-width="2"/>)"
        "\n",
        kLeft + 12, ly - 4, kLeft + 36, ly - 4, all[i].color);
    s += fmt::format(R"(<text x="{}" y="{:.1f}">{}</text>)"
                     "\n",
                     kLeft + 42, ly, all[i].name);
  }
  return s + "</svg>\n";
}

}  // namespace synod::bench
