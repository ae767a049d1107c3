#include "collector/cli/policy_cmd.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/proto/json.h"
#include "common/strings/str_cat.h"

namespace medic::cli {
namespace {

// "site=hq" -> scope and group; false with a message when it is neither form.
bool ParseGroup(const std::string& text, medic::v1::SetPolicyRequest* request) {
  const size_t eq = text.find('=');
  const std::string kind = text.substr(0, eq);
  const std::string group = eq == std::string::npos ? "" : text.substr(eq + 1);
  if (kind == "all" && eq == std::string::npos) {
    request->set_scope(medic::v1::POLICY_SCOPE_ALL);
    return true;
  }
  const std::pair<const char*, medic::v1::PolicyScope> kinds[] = {
      {"site", medic::v1::POLICY_SCOPE_SITE},
      {"subnet", medic::v1::POLICY_SCOPE_SUBNET},
      {"label", medic::v1::POLICY_SCOPE_LABEL},
      {"host", medic::v1::POLICY_SCOPE_HOST}};
  for (const auto& [name, scope] : kinds) {
    if (kind == name && !group.empty()) {
      request->set_scope(scope);
      request->set_group(group);
      return true;
    }
  }
  std::cerr << "medic: '" << text
            << "' is not a group; write all, site=NAME, subnet=CIDR, label=NAME or host=NAME\n";
  return false;
}

bool ReadYaml(const std::string& file, std::string* yaml) {
  std::stringstream buffer;
  if (file == "-") {
    buffer << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "medic: cannot read " << file << "\n";
      return false;
    }
    buffer << in.rdbuf();
  }
  *yaml = buffer.str();
  return true;
}

std::string ScopeText(const medic::v1::GroupPolicy& p) {
  switch (p.scope()) {
    case medic::v1::POLICY_SCOPE_ALL:
      return "all";
    case medic::v1::POLICY_SCOPE_SITE:
      return "site=" + p.group();
    case medic::v1::POLICY_SCOPE_SUBNET:
      return "subnet=" + p.group();
    case medic::v1::POLICY_SCOPE_LABEL:
      return "label=" + p.group();
    case medic::v1::POLICY_SCOPE_HOST:
      return "host=" + p.group();
    default:
      return "?";
  }
}

std::string Indent(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out += "    " + line + "\n";
  return out;
}

}  // namespace

void AddPolicyCommands(CLI::App& app, PolicyCommand* c) {
  c->policy = app.add_subcommand("policy", "central policy by group: set, rollout, show, preview");
  c->policy->require_subcommand(1);
  const char* group_help = "all, site=NAME, subnet=CIDR, label=NAME or host=NAME";
  c->set = c->policy->add_subcommand("set",
                                     "set a group's policy (a partial agent config in "
                                     "YAML; an empty file removes it) on all its machines");
  c->set->add_option("GROUP", c->group, group_help)->required();
  c->set->add_option("FILE", c->file, "YAML file, - for standard input")->required();
  c->rollout = c->policy->add_subcommand(
      "rollout",
      "try a group's new policy on a share of its machines first; it reaches the "
      "rest when they all applied it cleanly, and is rolled back if one reports errors");
  c->rollout->add_option("GROUP", c->group, group_help)->required();
  c->rollout->add_option("FILE", c->file, "YAML file, - for standard input")->required();
  c->rollout->add_option("--canary", c->canary, "share of the group to try it on, e.g. 5%")
      ->required();
  c->show = c->policy->add_subcommand("show", "every group's policy, canaries and rollbacks");
  c->show->add_flag("--json", c->json, "print the proto JSON mapping");
  c->preview = c->policy->add_subcommand(
      "preview",
      "a machine's effective config with its policy (or with a draft) before "
      "applying, each value with where it comes from");
  c->preview->add_option("HOST", c->host, "hostname or machine id")->required();
  c->preview->add_option("GROUP", c->group, "with FILE: preview this draft for the group");
  c->preview->add_option("FILE", c->file, "the draft's YAML");
  c->preview->add_flag("--json", c->json, "print the proto JSON mapping");
}

int RunPolicyCommand(const PolicyCommand& c, medic::v1::TechnicianService::Stub& stub,
                     grpc::ClientContext& context, grpc::Status* failed) {
  const char* user = std::getenv("USER");
  if (c.set->parsed() || c.rollout->parsed()) {
    medic::v1::SetPolicyRequest request;
    if (!ParseGroup(c.group, &request) || !ReadYaml(c.file, request.mutable_yaml())) return 2;
    if (c.rollout->parsed()) {
      std::string share = c.canary;
      if (share.ends_with('%')) share.pop_back();
      char* end = nullptr;
      const long percent = std::strtol(share.c_str(), &end, 10);
      if (share.empty() || *end != '\0' || percent < 1 || percent > 99) {
        std::cerr << "medic: --canary '" << c.canary << "' is not a share from 1% to 99%\n";
        return 2;
      }
      request.set_canary_percent(static_cast<uint32_t>(percent));
    }
    request.set_actor(user != nullptr && *user != '\0' ? user : "technician");
    medic::v1::SetPolicyResponse response;
    *failed = stub.SetPolicy(&context, request, &response);
    if (!failed->ok()) return -1;
    const auto& p = response.policy();
    if (request.yaml().empty() && !p.has_canary()) {
      std::cout << "policy of " << c.group << " removed\n";
    } else if (p.has_canary()) {
      std::cout << "policy of " << ScopeText(p) << " revision " << p.canary().revision()
                << " is on trial on " << response.canary_hosts_size() << " machine(s): ";
      for (int i = 0; i < response.canary_hosts_size(); ++i) {
        std::cout << (i ? ", " : "") << response.canary_hosts(i);
      }
      std::cout << "\nit reaches the rest of the group when they have applied it without errors, "
                   "and is rolled back if one reports an error (see `medic policy show`)\n";
    } else {
      std::cout << "policy of " << ScopeText(p) << " is now revision " << p.revision()
                << "; connected machines get it now\n";
    }
    return 0;
  }
  if (c.show->parsed()) {
    medic::v1::ListPoliciesResponse response;
    *failed = stub.ListPolicies(&context, medic::v1::ListPoliciesRequest(), &response);
    if (!failed->ok()) return -1;
    if (c.json) {
      std::cout << medic::common::ToJson(response) << "\n";
      return 0;
    }
    if (response.policies().empty())
      std::cout << "No central policy: agents run their local config.\n";
    for (const auto& p : response.policies()) {
      std::cout << ScopeText(p) << " @" << p.revision() << " (by " << p.updated_by() << ")\n"
                << Indent(p.yaml());
      if (p.has_canary()) {
        std::cout << "  canary @" << p.canary().revision() << " on "
                  << p.canary().machine_ids_size() << " machine(s), " << p.canary().applied_size()
                  << " applied so far:\n"
                  << Indent(p.canary().yaml());
      }
    }
    for (const auto& r : response.rollbacks()) std::cout << "rollback: " << r << "\n";
    return 0;
  }
  medic::v1::PreviewPolicyRequest request;
  request.set_host(c.host);
  if (!c.group.empty() || !c.file.empty()) {
    if (c.group.empty() || c.file.empty()) {
      std::cerr << "medic: a draft needs both GROUP and FILE\n";
      return 2;
    }
    if (!ParseGroup(c.group, request.mutable_draft()) ||
        !ReadYaml(c.file, request.mutable_draft()->mutable_yaml())) {
      return 2;
    }
  }
  medic::v1::PolicyPreview response;
  *failed = stub.PreviewPolicy(&context, request, &response);
  if (!failed->ok()) return -1;
  if (c.json) {
    std::cout << medic::common::ToJson(response) << "\n";
    return 0;
  }
  std::cout << "# " << response.host() << ": policy "
            << (response.policy().version().empty() ? "none" : response.policy().version())
            << " (runs "
            << (response.applied_version().empty() ? "none" : response.applied_version())
            << " now)\n"
            << response.effective();
  for (const auto& r : response.refused()) std::cout << "# would be refused: " << r << "\n";
  for (const auto& e : response.applied_errors()) {
    std::cout << "# " << response.host() << " refused when it applied "
              << response.applied_version() << ": " << e << "\n";
  }
  return 0;
}

}  // namespace medic::cli
