#pragma once

// The printers probe: CUPS queues and jobs, and each network device's own IPP state.

#include <memory>

#include "agent/probes/probe.h"

namespace medic::agent {

// "printers": PrintersStatus from the CUPS scheduler (config printers.cups_server, else
// $CUPS_SERVER, else libcups's default) over IPP: every queue (classes are left out) with its
// device URI, state, accepting, message and reasons, the default queue, and the jobs not yet
// completed with their ages from ctx.clock. Each distinct network device behind a queue is
// asked once per collection, all in parallel: ipp/ipps/http/https URIs with
// Get-Printer-Attributes, socket/lpd with a TCP connect; each within printers.device_timeout
// (default 3s) and never past ctx.deadline, so a device that hangs costs only its own wait.
// Findings per JudgePrinters with printers.job_stuck_after (default 10m). When the scheduler
// cannot be reached the report says "no print system" (data, no finding); a scheduler that
// answers with an IPP error is a failure naming the request. Safe to run on its own thread.
std::unique_ptr<Probe> NewPrintersProbe();

}  // namespace medic::agent
