#include "tests/support/cups_fixture.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::test {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(10);

// Whether something accepts a connection on `addr` now.
bool Accepts(const sockaddr* addr, socklen_t len) {
  const int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = connect(fd, addr, len) == 0;
  close(fd);
  return ok;
}

bool AcceptsTcp(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return Accepts(reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
}

bool AcceptsUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return Accepts(reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
}

// Polls `ready` until it holds, `process` exits, or `timeout` passes.
absl::Status WaitUntil(Process& process, std::string_view what, absl::Duration timeout,
                       const std::function<bool()>& ready) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (ready()) return absl::OkStatus();
    if (!process.Running()) {
      return absl::UnavailableError(
          common::StrCat(what, " exited before it was ready\n", process.Describe()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(common::StrCat(
      what, " not ready within ", absl::FormatDuration(timeout), "\n", process.Describe()));
}

absl::Status MakeDir(const std::string& path, mode_t mode, bool group_lp = false) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return absl::InternalError(common::StrCat("mkdir ", path, ": ", error.message()));
  if (group_lp) {
    const group* lp = getgrnam("lp");
    if (lp == nullptr) return absl::NotFoundError("no group lp: is the cups package installed?");
    if (chown(path.c_str(), 0, lp->gr_gid) != 0) {
      return absl::InternalError(common::StrCat("chown root:lp ", path, ": ", strerror(errno)));
    }
  }
  if (chmod(path.c_str(), mode) != 0) {
    return absl::InternalError(common::StrCat("chmod ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CupsFixture>> CupsFixture::Start() {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError("a private cupsd needs root (it runs filters as lp)");
  }
  std::unique_ptr<CupsFixture> f(new CupsFixture);
  // cupsd's filters and backends run as lp and must reach the files below.
  if (chmod(f->dir().c_str(), 0755) != 0) {
    return absl::InternalError(common::StrCat("chmod ", f->dir(), ": ", strerror(errno)));
  }
  const std::string bus = f->dir_.File("bus.sock");
  WriteFile(f->dir_.File("bus.conf"),
            common::StrCat(
                R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=)",
                bus, R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
)"));
  f->dbus_ = std::make_unique<Process>(
      std::vector<std::string>{"/usr/bin/dbus-daemon", "--nofork",
                               "--config-file=" + f->dir_.File("bus.conf")},
      f->dir(), "dbus");
  RETURN_IF_ERROR(
      WaitUntil(*f->dbus_, "dbus-daemon", kStartTimeout, [&] { return AcceptsUnix(bus); }));
  RETURN_IF_ERROR(f->StartCupsd());
  return f;
}

absl::Status CupsFixture::StartCupsd() {
  const std::string root = dir_.File("cups");
  RETURN_IF_ERROR(MakeDir(root, 0755));
  for (const char* sub : {"/cache", "/state", "/log", "/ppd"}) {
    RETURN_IF_ERROR(MakeDir(root + sub, 0755, /*group_lp=*/true));
  }
  RETURN_IF_ERROR(MakeDir(root + "/spool", 0710, /*group_lp=*/true));
  // Every job fails with "Can't create temporary file" unless TempDir is root:lp 1770.
  RETURN_IF_ERROR(MakeDir(root + "/tmp", 01770, /*group_lp=*/true));
  server_ = root + "/cups.sock";
  WriteFile(root + "/cupsd.conf", common::StrCat("Listen ", server_, R"(
LogLevel warn
WebInterface No
Browsing Off
DefaultShared No
<Location />
  Order allow,deny
  Allow all
</Location>
<Location /admin>
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
)"));
  WriteFile(root + "/cups-files.conf",
            common::StrCat("ServerRoot ", root, "\nRequestRoot ", root, "/spool\nCacheDir ", root,
                           "/cache\nStateDir ", root, "/state\nTempDir ", root, "/tmp\nAccessLog ",
                           root, "/log/access_log\nErrorLog ", root, "/log/error_log\nPageLog ",
                           root, "/log/page_log\nPrintcap ", root, "/printcap\n"));
  cupsd_ = std::make_unique<Process>(
      std::vector<std::string>{"/usr/sbin/cupsd", "-f", "-c", root + "/cupsd.conf", "-s",
                               root + "/cups-files.conf"},
      dir(), "cupsd");
  return WaitUntil(*cupsd_, "cupsd", kStartTimeout, [&] { return AcceptsUnix(server_); });
}

CupsFixture::~CupsFixture() {
  // cupsd first, so no backend retries against printers going away; it stops its children.
  if (cupsd_ != nullptr && cupsd_->Running()) cupsd_->Stop(SIGTERM, absl::Seconds(5));
  for (auto& [name, printer] : printers_) {
    if (printer.process != nullptr && printer.process->Running()) printer.process->Stop(SIGKILL);
  }
  if (dbus_ != nullptr && dbus_->Running()) dbus_->Stop(SIGTERM);
}

absl::Status CupsFixture::StartPrinterProcess(const std::string& name, Printer& printer) {
  const std::string home = dir_.File("printer-" + name);
  RETURN_IF_ERROR(MakeDir(home + "/spool", 0755));
  const std::string lines = home + "/state-lines";
  if (!std::filesystem::exists(lines)) WriteFile(lines, "");
  const std::string command = home + "/print-command";
  // The job command: what a printer's engine would report while printing this job.
  const std::string hold = home + "/job-seconds";
  if (!std::filesystem::exists(hold)) WriteFile(hold, "0");
  WriteFile(command, common::StrCat("#!/bin/sh\ncat '", lines, "' >&2\nsleep \"$(cat '", hold,
                                    "')\"\nexit 0\n"));
  if (chmod(command.c_str(), 0755) != 0) {
    return absl::InternalError(common::StrCat("chmod ", command, ": ", strerror(errno)));
  }
  printer.process = std::make_unique<Process>(
      std::vector<std::string>{
          "/usr/bin/env", "DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + dir_.File("bus.sock"),
          "ippeveprinter", "-n", "localhost", "-p", common::StrCat(printer.port), "-r", "off", "-c",
          command, "-d", home + "/spool", name},
      home, "ippeveprinter");
  const int port = printer.port;
  return WaitUntil(*printer.process, common::StrCat("ippeveprinter ", name), kStartTimeout,
                   [port] { return AcceptsTcp(port); });
}

absl::StatusOr<std::string> CupsFixture::StartPrinter(const std::string& name) {
  Printer& printer = printers_[name];
  // FreePort's port was free a moment ago; a test running beside this one may take it first,
  // and then the printer exits at once: try another port.
  absl::Status started;
  for (int attempt = 0; attempt < 3; ++attempt) {
    printer.port = FreePort();
    started = StartPrinterProcess(name, printer);
    if (started.ok()) return PrinterUri(name);
    if (printer.process != nullptr && printer.process->Running()) break;  // not a lost port
  }
  return started;
}

absl::Status CupsFixture::KillPrinter(const std::string& name) {
  auto it = printers_.find(name);
  if (it == printers_.end()) return absl::NotFoundError(common::StrCat("no printer ", name));
  it->second.process->Stop(SIGKILL);
  return absl::OkStatus();
}

absl::Status CupsFixture::RestartPrinter(const std::string& name) {
  auto it = printers_.find(name);
  if (it == printers_.end()) return absl::NotFoundError(common::StrCat("no printer ", name));
  if (it->second.process->Running()) it->second.process->Stop(SIGKILL);
  return StartPrinterProcess(name, it->second);
}

std::string CupsFixture::PrinterUri(const std::string& name) const {
  auto it = printers_.find(name);
  return it == printers_.end() ? ""
                               : common::StrCat("ipp://localhost:", it->second.port, "/ipp/print");
}

absl::StatusOr<std::string> CupsFixture::Run(std::vector<std::string> argv) {
  const std::string line = absl::StrJoin(argv, " ");
  argv.insert(argv.begin(), {"/usr/bin/env", "CUPS_SERVER=" + server_});
  RunResult r = RunCommand(std::move(argv), absl::Seconds(20));
  if (r.exit_code != 0) {
    return absl::InternalError(
        common::StrCat("`", line, "` exited with ", r.exit_code, ": ", r.err, r.out));
  }
  return r.out;
}

absl::Status CupsFixture::AddQueue(const std::string& queue, const std::string& uri, bool raw) {
  RETURN_IF_ERROR(
      Run({"lpadmin", "-p", queue, "-v", uri, "-m", raw ? "raw" : "everywhere"}).status());
  // Enabled in separate requests: with `lpadmin -E`, cupsd sometimes enables the queue again
  // a moment later, undoing a cupsdisable that came right after.
  RETURN_IF_ERROR(Run({"cupsenable", queue}).status());
  return Run({"cupsaccept", queue}).status();
}

absl::StatusOr<int> CupsFixture::Print(const std::string& queue) {
  const std::string file = dir_.File("job.txt");
  if (!std::filesystem::exists(file)) WriteFile(file, "Medic test page\n");
  ASSIGN_OR_RETURN(std::string out, Run({"lp", "-d", queue, file}));
  // "request id is q1-3 (1 file(s))"
  const std::string prefix = "request id is " + queue + "-";
  const size_t at = out.find(prefix);
  if (at == std::string::npos) {
    return absl::InternalError(common::StrCat("lp -d ", queue, " said: ", out));
  }
  return std::atoi(out.c_str() + at + prefix.size());
}

absl::Status CupsFixture::WaitForNoJobs(const std::string& queue, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  std::string out;
  while (absl::Now() < end) {
    ASSIGN_OR_RETURN(out, Run({"lpstat", "-o", queue}));
    if (out.empty()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(common::StrCat("jobs still on ", queue, " after ",
                                                    absl::FormatDuration(timeout), ":\n", out));
}

absl::Status CupsFixture::SetStateLines(const std::string& name,
                                        const std::vector<std::string>& lines) {
  if (!printers_.contains(name)) return absl::NotFoundError(common::StrCat("no printer ", name));
  std::string text;
  for (const std::string& line : lines) common::StrAppend(&text, line, "\n");
  WriteFile(dir_.File("printer-" + name) + "/state-lines", text);
  return absl::OkStatus();
}

absl::Status CupsFixture::SetJobSeconds(const std::string& name, int seconds) {
  if (!printers_.contains(name)) return absl::NotFoundError(common::StrCat("no printer ", name));
  WriteFile(dir_.File("printer-" + name) + "/job-seconds", common::StrCat(seconds));
  return absl::OkStatus();
}

absl::Status CupsFixture::SetSupplies(const std::string& name, std::string_view query) {
  return HttpGet(name, common::StrCat("/supplies?", query));
}

absl::Status CupsFixture::SetMedia(const std::string& name, std::string_view query) {
  return HttpGet(name, common::StrCat("/media?", query));
}

// A plain HTTP/1.0 GET to the printer's own web server; OK on a 200 answer.
absl::Status CupsFixture::HttpGet(const std::string& name, const std::string& path) {
  auto it = printers_.find(name);
  if (it == printers_.end()) return absl::NotFoundError(common::StrCat("no printer ", name));
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(it->second.port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(
        common::StrCat("GET ", path, " on printer ", name, ": ", strerror(errno)));
  }
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const std::string request =
      common::StrCat("GET ", path, " HTTP/1.0\r\nHost: localhost:", it->second.port, "\r\n\r\n");
  std::string response;
  if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    ssize_t n;
    // Read the whole page: the printer applies the form while writing it, and keeps the
    // connection open afterwards.
    while (response.find("</html>") == std::string::npos &&
           (n = read(fd, buffer, sizeof(buffer))) > 0) {
      response.append(buffer, n);
    }
  }
  close(fd);
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") == std::string::npos ||
      response.find(" 200 ") > response.find("\r\n")) {
    return absl::InternalError(common::StrCat("GET ", path, " on printer ", name, " answered: ",
                                              response.substr(0, response.find("\r\n"))));
  }
  return absl::OkStatus();
}

}  // namespace medic::test
