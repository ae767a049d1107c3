// The printers probe on Linux: libcups against the CUPS scheduler and the devices themselves.

#include <cups/cups.h>
#include <cups/http.h>
#include <cups/ipp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "agent/probes/printers/printer_parse.h"
#include "agent/probes/printers/printer_probe.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

using medic::v1::PrinterDevice;
using medic::v1::PrinterJob;
using medic::v1::PrinterQueue;
using medic::v1::PrintersStatus;

constexpr absl::Duration kDefaultDeviceTimeout = absl::Seconds(3);

// RAII owners of libcups handles.
struct HttpClose {
  void operator()(http_t* http) const { httpClose(http); }
};
using Http = std::unique_ptr<http_t, HttpClose>;
struct IppDelete {
  void operator()(ipp_t* ipp) const { ippDelete(ipp); }
};
using Ipp = std::unique_ptr<ipp_t, IppDelete>;
struct AddrListFree {
  void operator()(http_addrlist_t* list) const { httpAddrFreeList(list); }
};
using AddrList = std::unique_ptr<http_addrlist_t, AddrListFree>;

std::string AttrString(ipp_attribute_t* attr, int i = 0) {
  const char* s = ippGetString(attr, i, nullptr);
  return s == nullptr ? "" : s;
}

std::vector<std::string> AttrStrings(ipp_attribute_t* attr) {
  std::vector<std::string> out;
  for (int i = 0; i < ippGetCount(attr); ++i) out.push_back(AttrString(attr, i));
  return out;
}

std::vector<int> AttrIntegers(ipp_attribute_t* attr) {
  std::vector<int> out;
  for (int i = 0; i < ippGetCount(attr); ++i) out.push_back(ippGetInteger(attr, i));
  return out;
}

// printer-supply and printer-input-tray are octetString; some devices send them as text.
std::vector<std::string> AttrOctets(ipp_attribute_t* attr) {
  if (ippGetValueTag(attr) != IPP_TAG_STRING) return AttrStrings(attr);
  std::vector<std::string> out;
  for (int i = 0; i < ippGetCount(attr); ++i) {
    int len = 0;
    const void* data = ippGetOctetString(attr, i, &len);
    out.emplace_back(data == nullptr ? "" : std::string(static_cast<const char*>(data), len));
  }
  return out;
}

double Seconds(absl::Duration d) { return std::max(0.1, absl::ToDoubleSeconds(d)); }
int Millis(absl::Duration d) { return std::max<int>(100, absl::ToInt64Milliseconds(d)); }

// Connects to `host` (a socket path, or HOST[:PORT] with `default_port`) within `timeout`, and
// makes every later read and write give up after `timeout` too.
absl::StatusOr<Http> Connect(const std::string& host, int port, http_encryption_t encryption,
                             absl::Duration timeout) {
  // msec 0 only resolves the address; connecting in a second step leaves the cause of a
  // failure in httpError() (httpConnect2 would close the handle and lose it).
  Http http(httpConnect2(host.c_str(), port, nullptr, AF_UNSPEC, encryption, 1, 0, nullptr));
  const std::string where = host[0] == '/' ? host : common::StrCat(host, ":", port);
  if (http == nullptr) {
    return absl::UnavailableError(common::StrCat("cannot resolve ", where));
  }
  if (httpReconnect2(http.get(), Millis(timeout), nullptr) != 0) {
    const int err = httpError(http.get());
    return absl::UnavailableError(
        common::StrCat("cannot connect to ", where, ": ", err != 0 ? strerror(err) : "timed out"));
  }
  httpSetTimeout(http.get(), Seconds(timeout), nullptr, nullptr);
  return http;
}

// Sends `request` to `resource` and returns the answer; an IPP error names `what`. `not_found_ok`
// accepts client-error-not-found (CUPS answers so when there are no printers or no default).
absl::StatusOr<Ipp> Ask(http_t* http, ipp_t* request, const char* resource, std::string_view what,
                        bool not_found_ok = false) {
  Ipp response(cupsDoRequest(http, request, resource));
  const ipp_status_t status = cupsLastError();
  if (not_found_ok && status == IPP_STATUS_ERROR_NOT_FOUND) return Ipp(ippNew());
  if (response == nullptr || status > IPP_STATUS_OK_CONFLICTING) {
    return absl::UnavailableError(common::StrCat(what, " failed: ", ippErrorString(status), " (",
                                                 cupsLastErrorString(), ")"));
  }
  return response;
}

void RequestAttributes(ipp_t* request, const std::vector<const char*>& names) {
  ippAddStrings(request, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
                static_cast<int>(names.size()), nullptr, names.data());
}

// The queues CUPS knows, without classes, in CUPS's order.
absl::StatusOr<std::vector<PrinterQueue>> GetQueues(http_t* http) {
  ipp_t* request = ippNewRequest(IPP_OP_CUPS_GET_PRINTERS);
  RequestAttributes(request,
                    {"printer-name", "device-uri", "printer-state", "printer-state-message",
                     "printer-state-reasons", "printer-is-accepting-jobs", "printer-type"});
  ASSIGN_OR_RETURN(Ipp response, Ask(http, request, "/", "CUPS-Get-Printers", true));
  std::vector<PrinterQueue> queues;
  PrinterQueue queue;
  bool is_class = false;
  auto flush = [&] {
    if (!queue.name().empty() && !is_class) queues.push_back(std::move(queue));
    queue = PrinterQueue();
    is_class = false;
  };
  for (ipp_attribute_t* a = ippFirstAttribute(response.get()); a != nullptr;
       a = ippNextAttribute(response.get())) {
    const char* name = ippGetName(a);
    if (name == nullptr) {
      flush();
      continue;
    }
    if (ippGetGroupTag(a) != IPP_TAG_PRINTER) continue;
    const std::string_view n = name;
    if (n == "printer-name") {
      queue.set_name(AttrString(a));
    } else if (n == "device-uri") {
      queue.set_device_uri(AttrString(a));
      queue.set_device_scheme(UriScheme(queue.device_uri()));
    } else if (n == "printer-state") {
      queue.set_state(PrinterStateName(ippGetInteger(a, 0)));
    } else if (n == "printer-state-message") {
      queue.set_state_message(AttrString(a));
    } else if (n == "printer-state-reasons") {
      for (std::string& r : AttrStrings(a)) {
        if (r != "none") queue.add_state_reasons(std::move(r));
      }
    } else if (n == "printer-is-accepting-jobs") {
      queue.set_accepting_jobs(ippGetBoolean(a, 0));
    } else if (n == "printer-type") {
      is_class = (ippGetInteger(a, 0) & CUPS_PRINTER_CLASS) != 0;
    }
  }
  flush();
  return queues;
}

absl::StatusOr<std::string> GetDefault(http_t* http) {
  ipp_t* request = ippNewRequest(IPP_OP_CUPS_GET_DEFAULT);
  RequestAttributes(request, {"printer-name"});
  ASSIGN_OR_RETURN(Ipp response, Ask(http, request, "/", "CUPS-Get-Default", true));
  return AttrString(ippFindAttribute(response.get(), "printer-name", IPP_TAG_NAME));
}

// Jobs not completed, by queue name, oldest first.
absl::StatusOr<std::map<std::string, std::vector<PrinterJob>>> GetJobs(http_t* http,
                                                                       absl::Time now) {
  ipp_t* request = ippNewRequest(IPP_OP_GET_JOBS);
  // Named, so CUPS shows job owners and titles to an agent running as root (@SYSTEM) instead
  // of hiding them as it does from anonymous requests.
  ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr,
               cupsUser());
  ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, "ipp://localhost/");
  ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "which-jobs", nullptr, "not-completed");
  RequestAttributes(request, {"job-id", "job-state", "job-printer-uri", "time-at-creation",
                              "job-originating-user-name", "job-name", "job-state-reasons"});
  ASSIGN_OR_RETURN(Ipp response, Ask(http, request, "/", "Get-Jobs", true));
  std::map<std::string, std::vector<PrinterJob>> jobs;
  PrinterJob job;
  std::string queue;
  auto flush = [&] {
    if (job.id() != 0 && !queue.empty()) jobs[queue].push_back(std::move(job));
    job = PrinterJob();
    queue.clear();
  };
  for (ipp_attribute_t* a = ippFirstAttribute(response.get()); a != nullptr;
       a = ippNextAttribute(response.get())) {
    const char* name = ippGetName(a);
    if (name == nullptr) {
      flush();
      continue;
    }
    if (ippGetGroupTag(a) != IPP_TAG_JOB) continue;
    const std::string_view n = name;
    if (n == "job-id") {
      job.set_id(ippGetInteger(a, 0));
    } else if (n == "job-state") {
      job.set_state(JobStateName(ippGetInteger(a, 0)));
    } else if (n == "job-printer-uri") {
      const std::string uri = AttrString(a);
      queue = uri.substr(uri.rfind('/') + 1);
    } else if (n == "time-at-creation") {
      const absl::Duration age = now - absl::FromUnixSeconds(ippGetInteger(a, 0));
      *job.mutable_age() = common::ToProtoDuration(std::max(age, absl::ZeroDuration()));
    } else if (n == "job-originating-user-name") {
      job.set_user(AttrString(a));
    } else if (n == "job-name") {
      job.set_title(AttrString(a));
    } else if (n == "job-state-reasons") {
      for (std::string& r : AttrStrings(a)) {
        if (r != "none") job.add_state_reasons(std::move(r));
      }
    }
  }
  flush();
  for (auto& [name, list] : jobs) {
    std::stable_sort(list.begin(), list.end(), [](const PrinterJob& a, const PrinterJob& b) {
      return common::FromProtoDuration(a.age()) > common::FromProtoDuration(b.age());
    });
  }
  return jobs;
}

struct UriParts {
  std::string scheme, host, resource;
  int port = 0;
};

absl::StatusOr<UriParts> SplitUri(const std::string& uri) {
  char scheme[32], user[256], host[256], resource[1024];
  int port = 0;
  if (httpSeparateURI(HTTP_URI_CODING_ALL, uri.c_str(), scheme, sizeof(scheme), user, sizeof(user),
                      host, sizeof(host), &port, resource, sizeof(resource)) < HTTP_URI_STATUS_OK) {
    return absl::InvalidArgumentError(common::StrCat("device URI ", uri, " does not parse"));
  }
  return UriParts{scheme, host, resource, port};
}

// Asks an IPP device for its own state.
absl::Status QueryIpp(const std::string& uri, absl::Duration timeout, PrinterDevice& device) {
  ASSIGN_OR_RETURN(UriParts parts, SplitUri(uri));
  const bool tls = parts.scheme == "ipps" || parts.scheme == "https";
  ASSIGN_OR_RETURN(Http http,
                   Connect(parts.host, parts.port,
                           tls ? HTTP_ENCRYPTION_ALWAYS : HTTP_ENCRYPTION_IF_REQUESTED, timeout));
  char printer_uri[1024];
  httpAssembleURI(HTTP_URI_CODING_ALL, printer_uri, sizeof(printer_uri), tls ? "ipps" : "ipp",
                  nullptr, parts.host.c_str(), parts.port, parts.resource.c_str());
  ipp_t* request = ippNewRequest(IPP_OP_GET_PRINTER_ATTRIBUTES);
  ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, printer_uri);
  RequestAttributes(request, {"printer-state", "printer-state-reasons", "printer-state-message",
                              "marker-names", "marker-levels", "marker-low-levels", "marker-types",
                              "marker-colors", "printer-supply", "printer-supply-description",
                              "printer-input-tray", "printer-make-and-model"});
  ASSIGN_OR_RETURN(Ipp response, Ask(http.get(), request, parts.resource.c_str(),
                                     common::StrCat("Get-Printer-Attributes of ", uri)));
  ipp_t* r = response.get();
  auto find = [r](const char* name) { return ippFindAttribute(r, name, IPP_TAG_ZERO); };
  if (ipp_attribute_t* a = find("printer-state")) {
    device.set_state(PrinterStateName(ippGetInteger(a, 0)));
  }
  device.set_state_message(AttrString(find("printer-state-message")));
  device.set_make_and_model(AttrString(find("printer-make-and-model")));
  std::vector<std::string> raw;
  for (std::string& reason : AttrStrings(find("printer-state-reasons"))) {
    if (reason != "none") raw.push_back(std::move(reason));
  }
  for (const std::string& k : NormaliseStateReasons(raw)) device.add_state_reasons(k);
  device.mutable_raw_state_reasons()->Assign(raw.begin(), raw.end());
  for (auto& m :
       BuildMarkers(AttrStrings(find("marker-names")), AttrStrings(find("marker-types")),
                    AttrIntegers(find("marker-levels")), AttrIntegers(find("marker-low-levels")),
                    AttrStrings(find("marker-colors")))) {
    *device.add_markers() = std::move(m);
  }
  const std::vector<std::string> descriptions = AttrStrings(find("printer-supply-description"));
  const std::vector<std::string> supplies = AttrOctets(find("printer-supply"));
  for (size_t i = 0; i < supplies.size(); ++i) {
    absl::StatusOr<medic::v1::PrinterSupply> supply = ParseSupply(supplies[i]);
    if (!supply.ok()) continue;  // one malformed entry must not hide the others
    if (i < descriptions.size()) supply->set_description(descriptions[i]);
    *device.add_supplies() = *std::move(supply);
  }
  for (const std::string& text : AttrOctets(find("printer-input-tray"))) {
    absl::StatusOr<medic::v1::PrinterInputTray> tray = ParseInputTray(text);
    if (tray.ok()) *device.add_input_trays() = *std::move(tray);
  }
  return absl::OkStatus();
}

// Whether a socket/lpd device accepts a TCP connection.
absl::Status QueryTcp(const std::string& uri, absl::Duration timeout) {
  ASSIGN_OR_RETURN(UriParts parts, SplitUri(uri));
  const std::string port = common::StrCat(parts.port);
  AddrList list(httpAddrGetList(parts.host.c_str(), AF_UNSPEC, port.c_str()));
  if (list == nullptr) {
    return absl::UnavailableError(common::StrCat("cannot resolve ", parts.host));
  }
  int fd = -1;
  errno = 0;
  http_addrlist_t* connected = httpAddrConnect2(list.get(), &fd, Millis(timeout), nullptr);
  if (connected == nullptr) {
    const int err = errno;
    return absl::UnavailableError(common::StrCat("cannot connect to ", parts.host, ":", port, ": ",
                                                 err != 0 ? strerror(err) : "timed out"));
  }
  httpAddrClose(nullptr, fd);
  return absl::OkStatus();
}

// Results of the device queries of one collection. Shared with the query threads, which may
// outlive the collection when a device hangs past the deadline.
struct Queries {
  std::mutex mu;
  std::condition_variable done;
  std::map<std::string, PrinterDevice> answered;  // guarded by mu
};

// Devices whose query thread has not ended yet, across collections: a device that trickles
// bytes (each step has its own timeout) or a host name whose lookup hangs keeps its thread past
// the collection, and must not get another one every cycle.
struct Busy {
  std::mutex mu;
  std::set<std::string> uris;  // guarded by mu
};

void QueryDevice(std::shared_ptr<Queries> queries, PrinterDevice device, absl::Duration timeout) {
  const absl::Status status = DeviceAccessOf(device.uri()) == DeviceAccess::kIpp
                                  ? QueryIpp(device.uri(), timeout, device)
                                  : QueryTcp(device.uri(), timeout);
  device.set_answered(status.ok());
  if (!status.ok()) device.set_error(std::string(status.message()));
  std::lock_guard<std::mutex> lock(queries->mu);
  const std::string uri = device.uri();
  queries->answered[uri] = std::move(device);
  queries->done.notify_all();
}

std::string SchedulerAddress(const medic::v1::AgentConfig& config) {
  if (!config.printers().cups_server().empty()) return config.printers().cups_server();
  if (const char* env = std::getenv("CUPS_SERVER"); env != nullptr && *env != '\0') return env;
  return cupsServer();
}

class PrintersProbe : public Probe {
 public:
  std::string_view name() const override { return "printers"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    PrintersStatus& status = *output.report.mutable_printers();
    const medic::v1::PrintersConfig& config = ctx.config.printers();
    absl::Duration device_timeout = kDefaultDeviceTimeout;
    if (config.has_device_timeout() &&
        common::FromProtoDuration(config.device_timeout()) > absl::ZeroDuration()) {
      device_timeout = common::FromProtoDuration(config.device_timeout());
    }
    absl::Duration job_stuck_after = kDefaultJobStuckAfter;
    if (config.has_job_stuck_after() &&
        common::FromProtoDuration(config.job_stuck_after()) > absl::ZeroDuration()) {
      job_stuck_after = common::FromProtoDuration(config.job_stuck_after());
    }

    const std::string server = SchedulerAddress(ctx.config);
    status.set_cups_server(server);
    std::string host = server;
    int port = ippPort();
    if (!server.empty() && server[0] != '/') {
      // HOST[:PORT]; a bracketed IPv6 address keeps its colons.
      const size_t colon = server.rfind(':');
      if (colon != std::string::npos && server.find(']', colon) == std::string::npos &&
          ParseInt(std::string_view(server).substr(colon + 1), &port)) {
        host = server.substr(0, colon);
      }
    }
    absl::StatusOr<Http> http =
        Connect(host, port, HTTP_ENCRYPTION_IF_REQUESTED, std::min(device_timeout, Remaining(ctx)));
    if (!http.ok()) {
      status.set_note(common::StrCat("no print system: no CUPS scheduler answers at ", server, " (",
                                     http.status().message(), ")"));
      return output;
    }
    status.set_print_system_present(true);
    ASSIGN_OR_RETURN(std::vector<PrinterQueue> queues, GetQueues(http->get()));
    ASSIGN_OR_RETURN(std::string default_queue, GetDefault(http->get()));
    ASSIGN_OR_RETURN(auto jobs, GetJobs(http->get(), ctx.clock.Now()));
    http->reset();
    status.set_default_queue(default_queue);

    std::map<std::string, PrinterDevice> devices;  // by URI, in URI order
    for (PrinterQueue& q : queues) {
      q.set_is_default(q.name() == default_queue);
      if (auto it = jobs.find(q.name()); it != jobs.end()) {
        for (PrinterJob& job : it->second) {
          if (job.state() == "held") q.set_jobs_held(q.jobs_held() + 1);
          if (JobInError(job)) q.set_jobs_in_error(q.jobs_in_error() + 1);
          *q.add_jobs() = std::move(job);
        }
      }
      q.set_job_count(q.jobs_size());
      // A held job waits on purpose: the oldest job is the oldest one meant to print.
      for (const PrinterJob& job : q.jobs()) {
        if (job.state() == "held") continue;
        *q.mutable_oldest_job_age() = job.age();
        break;
      }
      if (q.device_uri().empty()) continue;
      PrinterDevice& device = devices[q.device_uri()];
      device.set_uri(q.device_uri());
      device.add_queues(q.name());
      device.set_queried(DeviceAccessOf(q.device_uri()) != DeviceAccess::kNone);
    }
    QueryDevices(ctx, device_timeout, busy_, devices);

    for (PrinterQueue& q : queues) {
      AddObservation(output.report, "printer.jobs", q.name(), q.job_count(), "count");
      if (q.job_count() > 0) {
        AddObservation(output.report, "printer.oldest_job_age", q.name(),
                       absl::ToDoubleSeconds(common::FromProtoDuration(q.oldest_job_age())), "s");
      }
      *status.add_queues() = std::move(q);
    }
    for (auto& [uri, device] : devices) {
      for (const auto& m : device.markers()) {
        if (IsMeasuredLevel(m.level())) {
          AddObservation(output.report, "printer.marker_level", common::StrCat(uri, "#", m.name()),
                         m.level(), "pct");
        }
      }
      *status.add_devices() = std::move(device);
    }
    output.findings = JudgePrinters(status, job_stuck_after);
    return output;
  }

 private:
  std::shared_ptr<Busy> busy_ = std::make_shared<Busy>();  // shared with the query threads

  static absl::Duration Remaining(const ProbeContext& ctx) {
    return std::max(ctx.deadline - ctx.clock.Now(), absl::ZeroDuration());
  }

  // Asks every queried device at once; a device still silent at its timeout (or at the
  // deadline) is recorded as not answering and its thread finishes on its own.
  static void QueryDevices(const ProbeContext& ctx, absl::Duration device_timeout,
                           const std::shared_ptr<Busy>& busy,
                           std::map<std::string, PrinterDevice>& devices) {
    // Leave a little of the budget for judging and reporting.
    const absl::Duration budget =
        std::min(device_timeout, Remaining(ctx) - absl::Milliseconds(100));
    auto queries = std::make_shared<Queries>();
    size_t asked = 0;
    std::set<std::string> still_busy;
    for (const auto& [uri, device] : devices) {
      if (!device.queried()) continue;
      if (budget <= absl::ZeroDuration()) break;
      {
        std::lock_guard<std::mutex> lock(busy->mu);
        if (!busy->uris.insert(uri).second) {
          still_busy.insert(uri);
          continue;
        }
      }
      std::thread([queries, device, budget, busy] {
        QueryDevice(queries, device, budget);
        std::lock_guard<std::mutex> lock(busy->mu);
        busy->uris.erase(device.uri());
      }).detach();
      ++asked;
    }
    std::unique_lock<std::mutex> lock(queries->mu);
    // The query's own timeout applies per step (connect, then each read): allow for two steps,
    // but never past the deadline.
    const absl::Duration wait =
        std::min(budget * 2 + absl::Milliseconds(50), Remaining(ctx) - absl::Milliseconds(50));
    if (asked > 0 && wait > absl::ZeroDuration()) {
      queries->done.wait_for(lock, absl::ToChronoMilliseconds(wait),
                             [&] { return queries->answered.size() == asked; });
    }
    for (auto& [uri, device] : devices) {
      if (!device.queried()) continue;
      if (auto it = queries->answered.find(uri); it != queries->answered.end()) {
        device = std::move(it->second);
      } else if (still_busy.contains(uri)) {
        device.set_answered(false);
        device.set_error("still not answering: the query of an earlier turn has not ended");
      } else if (budget > absl::ZeroDuration()) {
        device.set_answered(false);
        device.set_error(common::StrCat("no answer within ", common::HumanDuration(budget)));
      } else {
        // Not asked at all: judged by CUPS's view, like a device that cannot be asked.
        device.set_queried(false);
        device.set_error("not asked: no time left before the probe's deadline");
      }
    }
  }
};

}  // namespace

std::unique_ptr<Probe> NewPrintersProbe() { return std::make_unique<PrintersProbe>(); }

}  // namespace medic::agent
