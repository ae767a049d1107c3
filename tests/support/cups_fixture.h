#pragma once

// A private print system for tests and benchmarks: a real cupsd with its own ServerRoot (and
// every other path, the printcap included) in a temporary directory, a private D-Bus system
// bus, and real IPP Everywhere printers (ippeveprinter) on loopback. Nothing touches
// /etc/cups or /run/cups, and each instance has its own directory, socket and ports, so tests
// using it run in parallel. Every process is stopped by PID when the fixture is destroyed.
// Needs root (cupsd runs its filters as lp) and the packages cups, cups-client,
// cups-ipp-utils and dbus-daemon.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/process.h"

namespace medic::test {

class CupsFixture {
 public:
  // Starts the bus and cupsd and waits until the scheduler answers. Fails naming the program
  // that did not start, with its output.
  static absl::StatusOr<std::unique_ptr<CupsFixture>> Start();
  ~CupsFixture();

  // The scheduler's socket: the value for CUPS_SERVER or printers.cups_server.
  const std::string& server() const { return server_; }
  const std::string& dir() const { return dir_.path(); }

  // Starts an ippeveprinter called `name` on a free loopback port and waits until it answers.
  // Every job it prints runs a command that copies the printer's STATE/ATTR lines (see
  // SetStateLines) to its stderr, which ippeveprinter applies to its own state. Returns the
  // device URI, ipp://localhost:PORT/ipp/print.
  absl::StatusOr<std::string> StartPrinter(const std::string& name);
  // Kills the printer's process (SIGKILL, as a crash or power cut would).
  absl::Status KillPrinter(const std::string& name);
  // Starts a killed printer again on the same port.
  absl::Status RestartPrinter(const std::string& name);
  std::string PrinterUri(const std::string& name) const;

  // lpadmin -p QUEUE -v URI -m everywhere (the driverless model, asked from the device), or
  // -m raw for a device that does not answer; then enabled and accepting.
  absl::Status AddQueue(const std::string& queue, const std::string& uri, bool raw = false);
  // Prints a small text file to `queue`; returns the job id.
  absl::StatusOr<int> Print(const std::string& queue);
  // Runs a CUPS client program (lpadmin, cupsdisable, cupsreject, cancel, lpstat…) against
  // this scheduler; returns its stdout, or an error with its stderr when it exits non-zero.
  absl::StatusOr<std::string> Run(std::vector<std::string> argv);
  // Waits until `queue` has no job left that is not completed.
  absl::Status WaitForNoJobs(const std::string& queue, absl::Duration timeout);

  // The lines the printer's job command prints next ("STATE: +media-jam,cover-open",
  // "ATTR: marker-levels=7 …"); they take effect when the next job prints.
  absl::Status SetStateLines(const std::string& name, const std::vector<std::string>& lines);
  // How long each job of the printer takes from now on (0 by default): a job on a jammed
  // printer stays processing that long.
  absl::Status SetJobSeconds(const std::string& name, int seconds);
  // Fills in the printer's own web forms, as someone at its panel would:
  // /supplies?supply0=95&supply1=5, and /media with every field of its form (a field left out
  // is cleared: see kMediaForm in the printers test).
  absl::Status SetSupplies(const std::string& name, std::string_view query);
  absl::Status SetMedia(const std::string& name, std::string_view query);

 private:
  struct Printer {
    int port = 0;
    std::unique_ptr<Process> process;
  };
  CupsFixture() = default;
  absl::Status StartCupsd();
  absl::Status StartPrinterProcess(const std::string& name, Printer& printer);
  absl::Status HttpGet(const std::string& name, const std::string& path);

  TempDir dir_;
  std::string server_;
  std::unique_ptr<Process> dbus_;
  std::unique_ptr<Process> cupsd_;
  std::map<std::string, Printer> printers_;
};

}  // namespace medic::test
