// A robot secret envop makes itself. Harbor's PATCH /robots/{id} (RefreshSec) takes a RobotSec:
// with an empty secret Harbor makes one and returns it; with a secret it checks it (8–128
// characters, at least one upper-case letter, one lower-case letter and one digit), stores it
// and returns an empty RobotSec. The client sends one of these and uses Harbor's when Harbor
// answers with its own, so both behaviours give the caller the secret that works.
#pragma once

#include <string>

namespace envop::harbor {

inline constexpr size_t kRobotSecretLength = 40;

// kRobotSecretLength characters from [A-Za-z0-9] drawn from OpenSSL's CSPRNG, with at least
// one of each class. Empty only when the CSPRNG fails (the caller reports that).
std::string generateRobotSecret();

// Harbor's rule for a robot secret a client supplies.
bool isValidRobotSecret(const std::string& secret);

}  // namespace envop::harbor
