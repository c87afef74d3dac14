// mig_mon / migmon human outputs (seed 001 and the real tool's forms): mm_dirty's header,
// per-second line and -L histogram, vm -s's Speed, vm -d's Latency, the prober's spike CSV and
// live status line, and migmon client_rr's closing report (what it probed, sent/received/lost,
// longest blackout, max_delay, RTT percentiles: its prober.stderr.log in an artifact folder).
//
// The prober's figures are its answers' spacing. Seed 001: the client "will record the latency of
// each packet received, recording spikes into $LOG and also show the maximum latency detected".
// In mig_mon's code (downtime.c, handle_event) that latency, `delay`, is the time between two
// consecutive answers received (CLOCK_MONOTONIC, ms); `max_delay` is the largest, from the third
// answer on, and the spike log holds each delay of at least twice the first one. The longest
// delay is thus the longest time the client went without an answer: the guest's blackout as
// mig_mon defines it, and ProbeResult::longest_blackout. It counts from the last answer before
// the outage, where ours counts from the first unanswered probe's send: it is longer by up to one
// probe interval (a run without a blackout shows delays of one interval), so an SLO that passes on
// it passes on the true outage too.
#include <fmt/format.h>

#include <limits>
#include <regex>

#include "parse_internal.hpp"

namespace migtest::internal {
namespace {

constexpr std::string_view kSpikeInitMarker = "18446744073709551615";

std::optional<Duration> Longer(const std::optional<Duration>& a, Duration b) {
  return a ? std::max(*a, b) : b;
}

// A number the regex found, or the line's ParseError: a number out of range (a garbled digit run)
// is malformed input, never an exception of another kind.
template <typename T>
T Num(const LineReader& r, const std::ssub_match& s, const std::string& line,
      std::string expected) {
  auto v = ToNumber<T>(s.str());
  if (!v) r.Fail(std::move(expected), line);
  return *v;
}

// Milliseconds as a Duration, failing beyond what a Duration holds.
Duration Ms(const LineReader& r, const std::ssub_match& s, const std::string& line,
            std::string expected) {
  const auto ms = Num<int64_t>(r, s, line, expected);
  if (ms > std::numeric_limits<Duration::rep>::max() / 1000) r.Fail(std::move(expected), line);
  return std::chrono::milliseconds(ms);
}

// A decimal number of microseconds (or of milliseconds) as a Duration, rounded to the microsecond.
Duration Scaled(const LineReader& r, const std::ssub_match& s, const std::string& line,
                std::string expected, double us_per_unit) {
  const auto v = Num<double>(r, s, line, expected);
  if (!(v >= 0 && v * us_per_unit < 9e15)) r.Fail(std::move(expected), line);
  return Duration(static_cast<Duration::rep>(v * us_per_unit + 0.5));
}
Duration UsFrom(const LineReader& r, const std::ssub_match& s, const std::string& line,
                std::string expected) {
  return Scaled(r, s, line, std::move(expected), 1.0);
}
Duration UsFromMs(const LineReader& r, const std::ssub_match& s, const std::string& line,
                  std::string expected) {
  return Scaled(r, s, line, std::move(expected), 1000.0);
}

// mig_mon's outputs read line by line: a method per kind of line, each filling the dirtier's,
// the prober's or the stream emulation's figures, then the result they make.
class MigmonReader {
 public:
  MigmonReader(std::istream& in, std::string_view source) : r_(in, source), source_(source) {
    mig_.format = Format::kMigmon;
  }
  RunResult Result() &&;  // reads every line: once

 private:
  void Read(const std::string& line);
  // mm_dirty
  void ReadDirtyRate(const std::string& line);
  void ReadBucket(const std::string& line);
  void ReadSettings(const std::string& line);
  // the prober: client_rr's report, status line and spike log
  void ReadProbing(const std::string& line);
  void ReadCounts(const std::string& line);
  void ReadBlackout(const std::string& line);
  void ReadMaxDelay(const std::string& line);
  void ReadRtt(const std::string& line);
  void ReadStatusLine(const std::string& line);
  void ReadRecvTimeout(const std::string& line);
  void ReadSpike(const std::string& line);
  // vm -s, vm -d
  void ReadSpeed(const std::string& line);
  void ReadLatency(const std::string& line);
  void ReadPostcopySummary(const std::string& line);
  // the end
  void FillHistogram();
  void FillPostcopyLatency();

  LineReader r_;
  std::string source_;
  DirtyResult dirty_;
  ProbeResult probe_;
  MigrationResult mig_;
  bool has_dirty_ = false, has_probe_ = false, has_mig_ = false;
  std::vector<LatencyDistribution::Bucket> buckets_;
  std::vector<Duration> latency_averages_;
  std::optional<Duration> latency_max_;
  std::optional<Duration> probe_blackout_;  // the prober's own "longest blackout:" line
  LatencyDistribution postcopy_summary_;    // vm -d's closing "Postcopy latency (us):" line
  bool has_postcopy_summary_ = false;
  // mig_mon before commit 6c0b1cb ("downtime: handle recvfrom() timeout in client_rr") took a
  // receive timeout (EAGAIN, printed as "recvfrom() ERRNO: 11") for an answer: its delays then
  // never exceed about one interval and say nothing of a blackout.
  bool timeouts_counted_as_answers_ = false;
};

// One line, trimmed and not empty: which kind it is.
void MigmonReader::Read(const std::string& line) {
  static const std::regex kTimeoutErrno(R"(recvfrom\(\) ERRNO: 11(?!\d))");  // EAGAIN
  if (std::regex_search(line, kTimeoutErrno)) {
    timeouts_counted_as_answers_ = true;
    has_probe_ = true;
  }
  if (line.starts_with("dirty-rate:")) {
    ReadDirtyRate(line);
  } else if (line.starts_with("probing ") || line.starts_with("sending to ")) {
    ReadProbing(line);
  } else if (line.starts_with("sent ")) {
    ReadCounts(line);
  } else if (line.starts_with("longest blackout:")) {
    ReadBlackout(line);
  } else if (line.starts_with("max_delay:")) {
    ReadMaxDelay(line);
  } else if (line.starts_with("rtt (us):")) {
    ReadRtt(line);
  } else if (line.starts_with("Postcopy latency (us):")) {
    ReadPostcopySummary(line);
  } else if (line.find(" (us): ") != std::string::npos && !line.starts_with("Latency")) {
    ReadBucket(line);
  } else if (line.starts_with("Speed:")) {
    ReadSpeed(line);
  } else if (line.starts_with("Latency:")) {
    ReadLatency(line);
  } else if (line.find("max_delay:") != std::string::npos && line.starts_with("[")) {
    ReadStatusLine(line);
  } else if (line.starts_with("Setting socket recv timeout")) {
    ReadRecvTimeout(line);
  } else if (std::isdigit(static_cast<unsigned char>(line[0])) &&
             line.find(',') != std::string::npos && line.find(' ') == std::string::npos) {
    ReadSpike(line);
  } else {
    ReadSettings(line);
  }
}

void MigmonReader::ReadDirtyRate(const std::string& line) {
  static const std::regex kDirty(
      R"(^dirty-rate: (\d+(?:\.\d+)?) \(MB/s\), time \(ms\): (\d+(?:\.\d+)?), load: (\d+(?:\.\d+)?)%(?:, lat \(us\): p50=(\d+) p99=(\d+) max=(\d+))?$)");
  std::smatch m;
  if (!std::regex_match(line, m, kDirty)) {
    r_.Fail("'dirty-rate: N (MB/s), time (ms): N, load: N.NN%[, lat (us): p50=N p99=N max=N]'",
            line);
  }
  dirty_.rate_mib_s.push_back(Num<double>(r_, m[1], line, "a rate in MB/s"));
  dirty_.load_percent.push_back(Num<double>(r_, m[3], line, "a load in %"));
  has_dirty_ = true;
}

// mm_dirty -L's histogram: one line per power-of-two bucket.
void MigmonReader::ReadBucket(const std::string& line) {
  static const std::regex kBucket(R"(^(\d+) \(us\): (\d+)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kBucket)) r_.Fail("'N (us): count'", line);
  const auto label = Num<uint64_t>(r_, m[1], line, "a power-of-two bucket label");
  if (label == 0 || (label & (label - 1)) != 0 || label > (uint64_t{1} << 40)) {
    r_.Fail("a power-of-two bucket label", line);
  }
  // Label 2^i holds [2^(i-1), 2^i) us; label 1 holds [0, 1); the last (2^20) also holds
  // everything over one second, so it has no upper bound.
  LatencyDistribution::Bucket b;
  b.lower = Duration(label == 1 ? 0 : static_cast<int64_t>(label / 2));
  b.upper = Duration(static_cast<int64_t>(label));
  b.count = Num<uint64_t>(r_, m[2], line, "a count");
  if (label >= (uint64_t{1} << 20)) b.upper.reset();
  buckets_.push_back(b);
  has_dirty_ = true;
}

// Any other line: mm_dirty's header may say its pattern, memory size and requested rate.
void MigmonReader::ReadSettings(const std::string& line) {
  static const std::regex kPattern(
      R"((?:^|\s)(?:[Dd]irty )?[Pp]attern:\s*(sequential|random|once)\b)");
  static const std::regex kMemory(R"([Mm]emory size:\s*(\d+)\s*\(?MB)");
  // The rate asked for with -r ("Maximum" without): not a sample of the achieved rate.
  static const std::regex kRate(R"([Dd]irty (?:memory )?rate:\s*(\d+(?:\.\d+)?)\s*\(?MB/s)");
  std::smatch m;
  if (std::regex_search(line, m, kPattern)) dirty_.pattern = m[1];
  if (std::regex_search(line, m, kMemory)) {
    dirty_.memory_mb = Num<uint64_t>(r_, m[1], line, "a memory size in MB");
  }
  if (std::regex_search(line, m, kRate)) {
    dirty_.requested_mib_s = Num<double>(r_, m[1], line, "a dirty rate in MB/s");
  }
}

// migmon client_rr's report (its human lines; on stderr with --json): what it probes, then at
// the end its counts, the longest blackout, mig_mon's max_delay and the RTT percentiles.
void MigmonReader::ReadProbing(const std::string& line) {
  static const std::regex kProbing(
      R"(^(?:probing|sending to) \S+ every (\d+(?:\.\d+)?) ms \((?:round trip|one way)\)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kProbing)) {
    r_.Fail("'probing HOST:PORT every N ms (round trip)'", line);
  }
  probe_.interval = UsFromMs(r_, m[1], line, "an interval in ms");
  has_probe_ = true;
}

void MigmonReader::ReadCounts(const std::string& line) {
  static const std::regex kCounts(
      R"(^sent (\d+), received (\d+), lost (\d+) \(\d+(?:\.\d+)?%\)(?:, \d+ port-unreachable errors)?$)");
  static const std::regex kOneWayCount(R"(^sent (\d+) packets in \d+ ms$)");
  std::smatch m;
  if (std::regex_match(line, m, kOneWayCount)) {
    probe_.sent = Num<uint64_t>(r_, m[1], line, "a count of packets");
  } else if (std::regex_match(line, m, kCounts)) {
    probe_.sent = Num<uint64_t>(r_, m[1], line, "a count of probes sent");
    probe_.received = Num<uint64_t>(r_, m[2], line, "a count of replies");
    probe_.lost = Num<uint64_t>(r_, m[3], line, "a count of probes lost");
  } else {
    r_.Fail("'sent N, received N, lost N (P%)' or 'sent N packets in N ms'", line);
  }
  has_probe_ = true;
}

void MigmonReader::ReadBlackout(const std::string& line) {
  static const std::regex kBlackout(
      R"(^longest blackout: (\d+(?:\.\d+)?) \(ms\), from probe \d+ sent at \+\d+(?:\.\d+)? \(ms\)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kBlackout)) {
    r_.Fail("'longest blackout: N.NNN (ms), from probe N sent at +N.NNN (ms)'", line);
  }
  // The prober's own measure (first unanswered send to the next reply): it replaces the
  // status lines' max_delay, which counts from the last answer before the outage.
  probe_blackout_ = UsFromMs(r_, m[1], line, "a blackout in ms");
  has_probe_ = true;
}

void MigmonReader::ReadMaxDelay(const std::string& line) {
  static const std::regex kMaxDelay(R"(^max_delay: (\d+) \(ms\), spikes: (\d+)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kMaxDelay)) r_.Fail("'max_delay: N (ms), spikes: N'", line);
  probe_.max_latency = Longer(probe_.max_latency, Ms(r_, m[1], line, "max_delay in ms"));
  has_probe_ = true;
}

void MigmonReader::ReadRtt(const std::string& line) {
  static const std::regex kRtt(
      R"(^rtt \(us\): min=(\d+(?:\.\d+)?) p50=(\d+(?:\.\d+)?) p90=\d+(?:\.\d+)? p99=(\d+(?:\.\d+)?) p99\.9=\d+(?:\.\d+)? max=(\d+(?:\.\d+)?)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kRtt)) {
    r_.Fail("'rtt (us): min=N p50=N p90=N p99=N p99.9=N max=N'", line);
  }
  probe_.rtt.reported_min = UsFrom(r_, m[1], line, "a minimum RTT in us");
  probe_.rtt.reported_p50 = UsFrom(r_, m[2], line, "a median RTT in us");
  probe_.rtt.reported_p99 = UsFrom(r_, m[3], line, "a 99th percentile RTT in us");
  probe_.rtt.reported_max = UsFrom(r_, m[4], line, "a maximum RTT in us");
  has_probe_ = true;
}

// The prober's live status line.
void MigmonReader::ReadStatusLine(const std::string& line) {
  // The status line has no newline of its own: what follows it on the line is another message.
  static const std::regex kStatus(R"(^\[(\d+)\] max_delay: (\d+) \(ms\), cur: (\d+) \(ms\))");
  std::smatch m;
  if (!std::regex_search(line, m, kStatus)) {
    r_.Fail("'[mono_ms] max_delay: N (ms), cur: N (ms)'", line);
  }
  const Duration d =
      std::max(Ms(r_, m[2], line, "max_delay in ms"), Ms(r_, m[3], line, "cur in ms"));
  probe_.max_latency = Longer(probe_.max_latency, d);
  probe_.longest_blackout = Longer(probe_.longest_blackout, d);
  has_probe_ = true;
}

// client_rr waits for each answer as long as its probe interval, and says so first.
void MigmonReader::ReadRecvTimeout(const std::string& line) {
  static const std::regex kRecvTimeout(R"(^Setting socket recv timeout to (\d+) \(ms\)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kRecvTimeout)) {
    r_.Fail("'Setting socket recv timeout to N (ms)'", line);
  }
  probe_.interval = Ms(r_, m[1], line, "an interval in ms");
  has_probe_ = true;
}

// A line of the prober's spike log (CSV).
void MigmonReader::ReadSpike(const std::string& line) {
  static const std::regex kSpike(R"(^(\d+),(\d+)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kSpike)) r_.Fail("a spike 'unix_seconds,delay_ms'", line);
  has_probe_ = true;
  if (m[2].str() == kSpikeInitMarker) return;  // the log's init marker, not a spike
  const Duration d = Ms(r_, m[2], line, "a delay in ms");
  probe_.spikes.push_back({Num<int64_t>(r_, m[1], line, "a time in unix seconds"), d});
  probe_.max_latency = Longer(probe_.max_latency, d);
  probe_.longest_blackout = Longer(probe_.longest_blackout, d);
}

void MigmonReader::ReadSpeed(const std::string& line) {
  static const std::regex kSpeed(R"(^Speed: (\d+(?:\.\d+)?) \(MB/s\)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kSpeed)) r_.Fail("'Speed: N (MB/s)'", line);
  mig_.bandwidth_mib_s.push_back(Num<double>(r_, m[1], line, "a rate in MB/s"));
  has_mig_ = true;
}

void MigmonReader::ReadLatency(const std::string& line) {
  static const std::regex kLatency(
      R"(^Latency: average (\d+(?:\.\d+)?) \(us\), max: (\d+) \(us\)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kLatency)) {
    r_.Fail("'Latency: average N (us), max: N (us)'", line);
  }
  const auto avg = Num<double>(r_, m[1], line, "an average in us");
  if (!(avg < 1e15)) r_.Fail("an average in us", line);
  latency_averages_.push_back(Duration(static_cast<int64_t>(avg)));
  Duration mx(Num<int64_t>(r_, m[2], line, "a maximum in us"));
  latency_max_ = latency_max_ ? std::max(*latency_max_, mx) : mx;
  has_mig_ = true;
}

// vm -d's closing line over every page request it answered.
void MigmonReader::ReadPostcopySummary(const std::string& line) {
  static const std::regex kPostcopyLatency(
      R"(^Postcopy latency \(us\): requests=(\d+) average=(\d+(?:\.\d+)?) p50=(\d+(?:\.\d+)?) p99=(\d+(?:\.\d+)?) max=(\d+(?:\.\d+)?)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kPostcopyLatency)) {
    r_.Fail("'Postcopy latency (us): requests=N average=N p50=N p99=N max=N'", line);
  }
  postcopy_summary_.reported_count = Num<uint64_t>(r_, m[1], line, "a count of requests");
  postcopy_summary_.reported_avg = UsFrom(r_, m[2], line, "an average in us");
  postcopy_summary_.reported_p50 = UsFrom(r_, m[3], line, "a median in us");
  postcopy_summary_.reported_p99 = UsFrom(r_, m[4], line, "a 99th percentile in us");
  postcopy_summary_.reported_max = UsFrom(r_, m[5], line, "a maximum in us");
  has_postcopy_summary_ = true;
  has_mig_ = true;
}

// mm_dirty -L prints its whole histogram or nothing.
void MigmonReader::FillHistogram() {
  if (buckets_.empty()) return;
  if (buckets_.size() != 21) {
    throw ParseError(source_, r_.line_number(), "21 histogram lines 'N (us): count'",
                     fmt::format("{}", buckets_.size()));
  }
  dirty_.latency.histogram = std::move(buckets_);
}

void MigmonReader::FillPostcopyLatency() {
  if (has_postcopy_summary_) {
    // Over every request: it says more than the per-second lines' averages.
    if (!latency_averages_.empty() && !postcopy_summary_.reported_max) {
      postcopy_summary_.reported_max = latency_max_;
    }
    mig_.postcopy_latency = std::move(postcopy_summary_);
  } else if (!latency_averages_.empty()) {
    LatencyDistribution lat;
    Duration::rep sum = 0;
    for (Duration d : latency_averages_) sum += d.count();
    lat.reported_avg = Duration(sum / static_cast<Duration::rep>(latency_averages_.size()));
    lat.reported_max = latency_max_;
    mig_.postcopy_latency = std::move(lat);
  }
}

RunResult MigmonReader::Result() && {
  std::string raw;
  while (r_.Next(raw)) {
    std::string line(Trim(raw));
    if (!line.empty()) Read(line);
  }
  FillHistogram();
  FillPostcopyLatency();
  if (!has_dirty_ && !has_probe_ && !has_mig_) {
    throw ParseError(source_, r_.line_number(),
                     "mig_mon lines (dirty-rate:, N (us): count, Speed:, Latency:, max_delay:, "
                     "spike CSV)",
                     "none before the end of the input");
  }
  RunResult run;
  run.format = Format::kMigmon;
  run.source = source_;
  if (has_dirty_) run.dirty = std::move(dirty_);
  if (probe_blackout_) probe_.longest_blackout = probe_blackout_;
  if (probe_.received && *probe_.received > 0) probe_.rtt.reported_count = probe_.received;
  if (timeouts_counted_as_answers_) probe_.longest_blackout.reset();
  if (has_probe_) run.probe = std::move(probe_);
  if (has_mig_) {
    mig_.status = Status::kUnknown;  // a stream emulation reports no migration outcome
    run.migration = std::move(mig_);
  }
  return run;
}

}  // namespace

// Detection (formats.cc): a line only mig_mon's outputs print, or the spike log's init marker.
Detection DetectMigmon(std::string_view head) {
  return Yes(Has(head, "dirty-rate:") || Has(head, " (us): ") || Has(head, "Speed: ") ||
             Has(head, "Latency: average") || Has(head, "max_delay:") ||
             Has(head, ",18446744073709551615"));
}

RunResult ParseMigmon(std::istream& in, std::string_view source) {
  return MigmonReader(in, source).Result();
}

}  // namespace migtest::internal
