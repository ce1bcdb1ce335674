// Harbor's answers as HarborClient decodes them: every HarborApi call production makes, in the
// order the registry part makes them, over a transport that answers from the fuzz input (parts
// separated by a NUL byte, each "STATUS\nheaders\n\nbody", see fuzz_transport.h; a list call
// takes one part per page, following Link rel="next"). Error answers go through
// errorFromAnswer; the paging headers through nextPageLink and parseTotalCount.
#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/harbor/harbor_client.h"
#include "controller/harbor/harbor_errors.h"
#include "controller/harbor/harbor_paging.h"
#include "controller/harbor/robot_secret.h"
#include "test/fuzz/fuzz_transport.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace envop;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::deque<kube::HttpResponse> answers;
  for (const auto& part : fuzz::splitInput(input, std::string_view("\0", 1))) {
    answers.push_back(fuzz::parseResponse(part));
  }
  for (const auto& a : answers) {
    // The paging helpers on whatever headers came (production calls them on every page).
    if (auto it = a.headers.find("link"); it != a.headers.end()) {
      (void)harbor::nextPageLink(it->second);
    }
    if (auto it = a.headers.find("x-total-count"); it != a.headers.end()) {
      (void)harbor::parseTotalCount(it->second);
    }
    if (auto it = a.headers.find("location"); it != a.headers.end()) {
      (void)harbor::idFromLocation(it->second);
    }
    (void)harbor::describeErrorBody(a.status, a.body);
  }
  harbor::HarborClient client(
      std::make_shared<fuzz::FuzzTransport>(std::move(answers), std::vector<std::string>{}));
  const harbor::Json projectReq = {{"project_name", "shop"}, {"metadata", {{"public", "false"}}}};
  (void)client.projectExists("shop");
  (void)client.getProject("shop");
  (void)client.createProject(projectReq);
  (void)client.projectQuota(7);
  (void)client.listProjectRobots(7);
  if (auto robot = client.createRobot({{"name", "pull"}, {"level", "project"}})) {
    (void)harbor::isValidRobotSecret(robot.value().secret);
  }
  (void)client.refreshRobotSecret(3);
  (void)client.listImmutableRules("shop");
  (void)client.getRetention(5);
  (void)client.createRetention({{"algorithm", "or"}});
  (void)client.updateProject("shop", projectReq);
  (void)client.deleteRobot(3);
  return 0;
}
