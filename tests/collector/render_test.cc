#include "collector/cli/render.h"

#include "common/proto/enum_words.h"
#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace medic::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(HumanBytesTest, PicksTheUnit) {
  struct Case {
    uint64_t bytes;
    const char* expected;
  } cases[] = {
      {0, "0 B"},                            // nothing
      {512, "512 B"},                        // below a KiB stays in bytes
      {1536, "1.5 KiB"},                     // one decimal below 10
      {uint64_t{40} << 30, "40 GiB"},        // whole numbers from 10 up
      {(uint64_t{5} << 30) / 2, "2.5 GiB"},  // a fraction of a GiB
  };
  for (const auto& c : cases) EXPECT_EQ(HumanBytes(c.bytes), c.expected) << c.bytes;
}

TEST(AgoTest, ReadsLikeAPerson) {
  EXPECT_EQ(Ago(kNow, kNow), "just now");
  EXPECT_EQ(Ago(kNow - absl::Seconds(4), kNow), "4s ago");
  EXPECT_EQ(Ago(kNow - absl::Minutes(125), kNow), "2h 5m ago");
  EXPECT_EQ(Ago(absl::UnixEpoch(), kNow), "never");
}

medic::v1::Machine MakeMachine(std::string name, bool online, uint32_t findings,
                               medic::v1::Severity worst) {
  medic::v1::Machine m;
  m.set_hostname(std::move(name));
  m.set_state(online ? medic::v1::MACHINE_STATE_ONLINE : medic::v1::MACHINE_STATE_OFFLINE);
  m.set_os("Debian GNU/Linux 12 (bookworm)");
  m.set_agent_version("0.1.0");
  *m.mutable_last_seen() = common::ToProtoTime(kNow - absl::Seconds(3));
  m.set_open_findings(findings);
  m.set_worst_severity(worst);
  return m;
}

TEST(RenderMachinesTest, MachinesNeedingAttentionComeFirst) {
  medic::v1::ListMachinesResponse r;
  *r.add_machines() = MakeMachine("a-healthy", true, 0, medic::v1::SEVERITY_UNSPECIFIED);
  *r.add_machines() = MakeMachine("b-warning", true, 1, medic::v1::SEVERITY_WARNING);
  *r.add_machines() = MakeMachine("c-offline", false, 0, medic::v1::SEVERITY_UNSPECIFIED);
  const std::string out = RenderMachines(r, kNow, false);
  EXPECT_LT(out.find("c-offline"), out.find("b-warning"));
  EXPECT_LT(out.find("b-warning"), out.find("a-healthy"));
  EXPECT_THAT(out, HasSubstr("1 (worst: warning)"));
  EXPECT_THAT(out, HasSubstr("3 machines, 2 online, 1 offline"));
  EXPECT_THAT(out, Not(HasSubstr("\033[")));  // no colour when not asked
  EXPECT_THAT(RenderMachines(r, kNow, true), HasSubstr("\033["));
}

TEST(RenderMachinesTest, EmptyFleetSaysWhatToDo) {
  EXPECT_THAT(RenderMachines({}, kNow, false), HasSubstr("No machines have reported yet"));
}

TEST(RenderHealthTest, ProblemFirstThenEvidence) {
  medic::v1::MachineHealth h;
  *h.mutable_machine() = MakeMachine("ws-042", true, 1, medic::v1::SEVERITY_CRITICAL);
  auto* f = h.add_findings();
  f->set_code("disk.space_low");
  f->set_resource("/home");
  f->set_severity(medic::v1::SEVERITY_CRITICAL);
  f->set_summary("/home has 3.1% free (1.2 GiB of 40 GiB)");
  (*f->mutable_evidence())["free_pct"] = "3.1";
  *f->mutable_raised_at() = common::ToProtoTime(kNow - absl::Hours(2));
  auto* mem = h.add_reports();
  mem->set_probe("memory");
  mem->set_outcome(medic::v1::PROBE_OUTCOME_OK);
  mem->mutable_memory()->set_total_bytes(uint64_t{16} << 30);
  mem->mutable_memory()->set_available_bytes(uint64_t{4} << 30);
  mem->mutable_memory()->set_used_bytes(uint64_t{12} << 30);
  auto* net = h.add_reports();
  net->set_probe("network");
  net->set_outcome(medic::v1::PROBE_OUTCOME_FAILED);
  net->set_error("/proc/net/route: Permission denied");

  const std::string out = RenderHealth(h, kNow, false);
  EXPECT_THAT(out, HasSubstr("ws-042 — online"));
  EXPECT_THAT(out, HasSubstr("CRITICAL  /home has 3.1% free (1.2 GiB of 40 GiB)"));
  EXPECT_THAT(out, HasSubstr("disk.space_low on /home, since 2h ago"));
  EXPECT_THAT(out, HasSubstr("evidence: free_pct=3.1"));
  EXPECT_THAT(out, HasSubstr("4.0 GiB available of 16 GiB (75% used) · no swap"));
  EXPECT_THAT(out, HasSubstr("network failed: /proc/net/route: Permission denied"));
  EXPECT_LT(out.find("Findings"), out.find("Hardware"));
}

TEST(RenderHealthTest, SmartShowsDisksThatCouldBeRead) {
  medic::v1::MachineHealth h;
  *h.mutable_machine() = MakeMachine("ws-9", true, 0, medic::v1::SEVERITY_UNSPECIFIED);
  auto* smart = h.add_reports();
  smart->set_probe("smart");
  auto* sda = smart->mutable_smart()->add_disks();
  sda->set_device("/dev/sda");
  sda->set_model("WDC WD10EZEX");
  sda->set_passed(true);
  sda->set_pending_sectors(24);
  sda->set_reallocated_sectors(16);
  sda->set_temperature_celsius(41);
  auto* vda = smart->mutable_smart()->add_disks();
  vda->set_device("/dev/vda");
  vda->set_note("no SMART on this device");
  const std::string out = RenderHealth(h, kNow, false);
  EXPECT_THAT(out, HasSubstr("SMART     /dev/sda WDC WD10EZEX: passed, 24 pending, 16 reallocated, "
                             "41 °C"));
  EXPECT_THAT(out, Not(HasSubstr("/dev/vda")));
}

TEST(RenderHealthTest, HealthyMachineSaysSo) {
  medic::v1::MachineHealth h;
  *h.mutable_machine() = MakeMachine("ws-1", true, 0, medic::v1::SEVERITY_UNSPECIFIED);
  EXPECT_THAT(RenderHealth(h, kNow, false), HasSubstr("No problems found."));
}

TEST(RenderHealthTest, OsChecksShowOnlyWhatIsWrong) {
  medic::v1::MachineHealth h;
  *h.mutable_machine() = MakeMachine("ws-1", true, 2, medic::v1::SEVERITY_CRITICAL);
  auto* reboot = h.add_reports();
  reboot->set_probe("reboot");
  reboot->mutable_reboot()->set_reboot_required(true);
  reboot->mutable_reboot()->add_packages("libc6");
  reboot->mutable_reboot()->set_running_kernel("5.15.0-88-generic");
  reboot->mutable_reboot()->set_newest_kernel("5.15.0-89-generic");
  reboot->mutable_reboot()->set_newer_kernel_installed(true);
  auto* updates = h.add_reports();
  updates->set_probe("updates");
  updates->mutable_updates()->set_package_manager("apt");
  updates->mutable_updates()->set_supported(true);
  updates->mutable_updates()->set_pending(12);
  updates->mutable_updates()->set_security(3);
  *updates->mutable_updates()->mutable_last_update() =
      common::ToProtoTime(kNow - absl::Hours(24 * 11));
  auto* services = h.add_reports();
  services->set_probe("services");
  services->mutable_services()->set_systemd_running(true);
  services->mutable_services()->add_failed_units()->set_unit("nginx.service");
  services->mutable_services()->add_failed_units()->set_unit("backup-nightly.service");
  auto* time = h.add_reports();
  time->set_probe("time");
  time->mutable_time()->set_source("chrony");
  time->mutable_time()->set_offset_known(true);
  time->mutable_time()->set_offset_seconds(2.315);
  auto* crashes = h.add_reports();
  crashes->set_probe("crashes");
  *crashes->mutable_crashes()->mutable_window() = common::ToProtoDuration(absl::Hours(24));
  for (const char* program : {"evince", "kernel", "evince"}) {
    crashes->mutable_crashes()->add_crashes()->set_program(program);
  }
  const std::string out = RenderHealth(h, kNow, false);
  EXPECT_THAT(out, HasSubstr("  Reboot pending: required by libc6; kernel 5.15.0-89-generic "
                             "installed, 5.15.0-88-generic running\n"));
  EXPECT_THAT(out, HasSubstr("  Updates: 12 pending, 3 security, last apt update 11d ago\n"));
  EXPECT_THAT(out, HasSubstr("  Failed services: nginx.service, backup-nightly.service\n"));
  EXPECT_THAT(out, HasSubstr("  Clock not synchronised (chrony), offset +2.315s\n"));
  EXPECT_THAT(out, HasSubstr("  Crashes in the last 1d: evince, kernel\n"));

  // All well: none of those lines, and no OS section without an os report.
  medic::v1::MachineHealth healthy;
  *healthy.mutable_machine() = MakeMachine("ws-2", true, 0, medic::v1::SEVERITY_UNSPECIFIED);
  healthy.add_reports()->set_probe("reboot");
  healthy.mutable_reports(0)->mutable_reboot()->set_running_kernel("6.1.0-13-amd64");
  auto* synced = healthy.add_reports();
  synced->set_probe("time");
  synced->mutable_time()->set_source("timedatectl");
  synced->mutable_time()->set_synchronized(true);
  auto* none = healthy.add_reports();
  none->set_probe("updates");
  none->mutable_updates()->set_package_manager("apt");
  none->mutable_updates()->set_supported(true);
  const std::string calm = RenderHealth(healthy, kNow, false);
  EXPECT_THAT(calm, Not(HasSubstr("OS\n")));
  EXPECT_THAT(calm, Not(HasSubstr("Reboot")));
  EXPECT_THAT(calm, Not(HasSubstr("Clock")));
}

TEST(RenderHealthTest, HardwareHealthLinesOnlyWhenPresent) {
  medic::v1::MachineHealth h;
  *h.mutable_machine() = MakeMachine("lt-7", true, 2, medic::v1::SEVERITY_WARNING);
  auto* thermal = h.add_reports();
  thermal->set_probe("thermal");
  thermal->mutable_thermal()->set_sensors_present(true);
  auto* nvme = thermal->mutable_thermal()->add_sensors();
  nvme->set_name("nvme/Composite");
  nvme->set_celsius(44.85);
  auto* core = thermal->mutable_thermal()->add_sensors();
  core->set_name("coretemp/Core 0");
  core->set_celsius(99);
  core->set_crit_celsius(100);
  core->set_cpu(true);
  auto* package = thermal->mutable_thermal()->add_sensors();
  package->set_name("coretemp/Package id 0");
  package->set_celsius(97);
  package->set_crit_celsius(100);
  package->set_cpu(true);
  thermal->mutable_thermal()->set_core_throttle_count(1148);
  thermal->mutable_thermal()->set_package_throttle_count(56);
  auto* battery = h.add_reports();
  battery->set_probe("battery");
  battery->mutable_battery()->set_battery_present(true);
  auto* bat0 = battery->mutable_battery()->add_batteries();
  bat0->set_name("BAT0");
  bat0->set_health_pct(62.0);
  bat0->set_cycle_count(412);
  bat0->set_status("Discharging");
  auto* errors = h.add_reports();
  errors->set_probe("hardware_errors");
  auto* mc0 = errors->mutable_hardware_errors()->add_memory_controllers();
  mc0->set_name("mc0");
  mc0->set_corrected(15);
  mc0->set_uncorrected(1);
  auto* sdb = errors->mutable_hardware_errors()->add_disks();
  sdb->set_device("sdb");
  sdb->set_io_errors(26);

  const std::string out = RenderHealth(h, kNow, false);
  // The package sensor speaks for the CPU, even with a hotter core.
  EXPECT_THAT(out,
              HasSubstr("  Temps     CPU 97 °C (crit 100) · throttled 1204 times since boot\n"));
  EXPECT_THAT(out, HasSubstr("  Battery   BAT0 62% of design, 412 cycles, discharging\n"));
  EXPECT_THAT(out, HasSubstr("  HW errors mc0 15 corrected, 1 uncorrected · sdb 26 I/O errors\n"));

  // The inventory's DMI names the machine in one line, first in the section.
  auto* inventory = h.add_reports();
  inventory->set_probe("inventory");
  auto* dmi = inventory->mutable_inventory()->mutable_dmi();
  dmi->set_sys_vendor("Dell Inc.");
  dmi->set_product_name("Latitude 7420");
  dmi->set_bios_version("1.31.0");
  dmi->set_product_serial("7XK2Q93");
  EXPECT_THAT(RenderHealth(h, kNow, false),
              HasSubstr("Hardware\n  Machine   Dell Inc. Latitude 7420, BIOS 1.31.0, serial "
                        "7XK2Q93\n"));
  dmi->set_product_serial("");  // not root: no serial
  dmi->set_sys_vendor("HP");
  dmi->set_product_name("HP EliteBook 840 G8 Notebook PC");
  EXPECT_THAT(RenderHealth(h, kNow, false),
              HasSubstr("  Machine   HP EliteBook 840 G8 Notebook PC, BIOS 1.31.0\n"));

  // No sensors, no battery, no errors: none of those lines.
  medic::v1::MachineHealth vm;
  *vm.mutable_machine() = MakeMachine("vm-1", true, 0, medic::v1::SEVERITY_UNSPECIFIED);
  vm.add_reports()->set_probe("thermal");
  vm.mutable_reports(0)->mutable_thermal();
  vm.add_reports()->set_probe("battery");
  vm.mutable_reports(1)->mutable_battery();
  vm.add_reports()->set_probe("hardware_errors");
  vm.mutable_reports(2)->mutable_hardware_errors()->add_disks()->set_device("sda");
  vm.add_reports()->set_probe("inventory");  // a VM without DMI
  vm.mutable_reports(3)->mutable_inventory()->set_memory_bytes(1 << 30);
  const std::string quiet = RenderHealth(vm, kNow, false);
  EXPECT_THAT(quiet, Not(HasSubstr("Machine")));
  EXPECT_THAT(quiet, Not(HasSubstr("Temps")));
  EXPECT_THAT(quiet, Not(HasSubstr("Battery")));
  EXPECT_THAT(quiet, Not(HasSubstr("HW errors")));
}

// The network as a technician's notes: the link, the gateway, each DNS server and each target,
// with what failed and since when (the finding's raise time).
TEST(RenderHealthTest, NetworkReadsLikeNotes) {
  medic::v1::MachineHealth h;
  *h.mutable_machine() = MakeMachine("ws-7", true, 2, medic::v1::SEVERITY_CRITICAL);
  ASSERT_TRUE(google::protobuf::TextFormat::MergeFromString(
      R"pb(
        reports {
          probe: "network"
          outcome: PROBE_OUTCOME_OK
          network {
            interfaces { name: "lo" loopback: true up: true carrier: true }
            interfaces {
              name: "eth0"
              up: true
              carrier: true
              speed_mbps: 1000
              duplex: "full"
              addresses: "10.1.0.23/24"
              physical: true
            }
            interfaces { name: "wlan0" up: true carrier: false wireless: true physical: true }
            default_gateways: "10.1.0.1"
            dns_servers: "10.1.0.53"
            dns_servers: "10.1.0.54"
            search_domains: "corp.example"
            dns_source: "/etc/resolv.conf"
          }
        }
        reports {
          probe: "connectivity"
          outcome: PROBE_OUTCOME_OK
          connectivity {
            gateways {
              gateway: "10.1.0.1"
              interface: "eth0"
              method: GATEWAY_METHOD_ICMP_DATAGRAM
              sent: 5
              received: 3
              loss_pct: 40
              rtt_avg_ms: 0.84
              reachable: true
            }
            dns {
              server: "10.1.0.53"
              name: "medic.corp"
              outcome: DNS_OUTCOME_TIMEOUT
              answer_ms: 2000
            }
            dns {
              server: "10.1.0.54"
              name: "medic.corp"
              outcome: DNS_OUTCOME_ANSWERED
              answer_ms: 3.25
              addresses: "10.1.0.9"
            }
            targets {
              target: "10.1.0.9:7070"
              endpoint: "10.1.0.9:7070"
              connected: true
              connect_ms: 1.5
            }
            targets {
              target: "files.corp:445"
              endpoint: "files.corp:445"
              error: "connection refused"
            }
          }
        }
        findings {
          code: "net.dns_failure"
          resource: "10.1.0.53"
          raised_at { seconds: 1799996400 }
        }
        findings {
          code: "net.packet_loss"
          resource: "10.1.0.1"
          raised_at { seconds: 1799999940 }
        }
        findings { code: "net.target_unreachable" resource: "files.corp:445" }
        topology { proxy: "http://proxy.corp:3128" }
      )pb",
      &h));
  const std::string out = RenderHealth(h, kNow, false);
  EXPECT_THAT(out,
              HasSubstr("Network\n"
                        "  Link      eth0 up 1000 Mb/s full · 10.1.0.23/24\n"
                        "            wlan0 NOT CONNECTED · no address\n"
                        "  Gateway   10.1.0.1 via eth0: 3 of 5 pings answered, 0.8 ms average, "
                        "40% LOST (since Jan 15 07:59 UTC)\n"
                        "  DNS       10.1.0.53: NO ANSWER for medic.corp within 2000.0 ms "
                        "(timeout) (since Jan 15 07:00 UTC)\n"
                        "            10.1.0.54: answered medic.corp in 3.2 ms (10.1.0.9)\n"
                        "  Targets   10.1.0.9:7070: connected in 1.5 ms\n"
                        "            files.corp:445: CANNOT CONNECT (connection refused)\n"
                        "            search corp.example · resolvers from /etc/resolv.conf · "
                        "proxy http://proxy.corp:3128\n"));
}

// What a technician needs on a printer call: which printer, what is wrong with queue and
// device, which jobs wait and since when.
TEST(RenderHealthTest, PrintersShowQueueDeviceAndWaitingJobs) {
  medic::v1::MachineHealth h;
  h.mutable_machine()->set_hostname("ws-17");
  auto* r = h.add_reports();
  r->set_probe("printers");
  *r->mutable_collected_at() = common::ToProtoTime(kNow - absl::Minutes(1));
  auto* p = r->mutable_printers();
  p->set_print_system_present(true);
  auto* q = p->add_queues();
  q->set_name("HP-2");
  q->set_is_default(true);
  q->set_device_uri("ipp://10.0.0.9/ipp/print");
  q->set_state("processing");
  q->set_accepting_jobs(true);
  q->set_job_count(1);
  auto* job = q->add_jobs();
  job->set_id(42);
  job->set_state("processing");
  job->set_user("alice");
  job->set_title("invoice.pdf");
  *job->mutable_age() = common::ToProtoDuration(absl::Minutes(11));
  auto* d = p->add_devices();
  d->set_uri("ipp://10.0.0.9/ipp/print");
  d->set_queried(true);
  d->set_answered(true);
  d->set_state("stopped");
  d->add_state_reasons("media-jam");
  auto* m = d->add_markers();
  m->set_name("Black");
  m->set_level(-3);
  auto* usb = p->add_queues();
  usb->set_name("Label");
  usb->set_device_uri("usb://Zebra/LP2844");
  usb->set_state("idle");
  usb->set_accepting_jobs(false);

  const std::string out = RenderHealth(h, kNow, false);
  EXPECT_THAT(out, HasSubstr("Printers\n  HP-2 (default) → ipp://10.0.0.9/ipp/print\n"));
  EXPECT_THAT(out, HasSubstr("    device: stopped, jammed, Black some left\n"));
  // Queued 11 minutes before a report collected a minute ago.
  EXPECT_THAT(out, HasSubstr("      HP-2-42 processing, queued 12m ago by alice (invoice.pdf)\n"));
  EXPECT_THAT(out, HasSubstr("  Label → usb://Zebra/LP2844\n    queue: idle, NOT accepting jobs\n"
                             "    no jobs waiting\n"));
}

TEST(RenderHealthTest, NoPrintSystemIsSaid) {
  medic::v1::MachineHealth h;
  auto* r = h.add_reports();
  r->set_probe("printers");
  r->mutable_printers()->set_note(
      "no print system: no CUPS scheduler answers at /run/cups/cups.sock");
  EXPECT_THAT(RenderHealth(h, kNow, false),
              HasSubstr("Printers\n  no print system: no CUPS scheduler answers"));
}

}  // namespace
}  // namespace medic::cli

namespace medic::common {
namespace {

// The words the CLI prints and scenario files use for the fleet's enums.
TEST(EnumWordTest, NameWithoutPrefixInLowerCase) {
  EXPECT_EQ(EnumWord(medic::v1::SCOPE_RESOURCE), "resource");
  EXPECT_EQ(EnumWord(medic::v1::TICKET_STATE_ACKNOWLEDGED), "acknowledged");
  EXPECT_EQ(EnumWord(medic::v1::SCOPE_UNSPECIFIED), "unspecified");
  EXPECT_EQ(EnumWord(static_cast<medic::v1::Scope>(99)), "");
}

}  // namespace
}  // namespace medic::common
