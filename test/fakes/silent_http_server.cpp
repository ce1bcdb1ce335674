#include "test/fakes/silent_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <utility>

namespace envop::fakes {
namespace {

// Reads one request (headers, then Content-Length bytes of body); its method, or "" when the
// peer went away first.
std::string readRequest(int fd) {
  std::string data;
  char buf[4096];
  std::size_t headerEnd = std::string::npos;
  std::size_t need = 0;
  for (;;) {
    if (headerEnd == std::string::npos) {
      headerEnd = data.find("\r\n\r\n");
      if (headerEnd != std::string::npos) {
        std::size_t length = 0;
        std::string lower = data.substr(0, headerEnd);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (const auto at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
          length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
        }
        need = headerEnd + 4 + length;
      }
    }
    if (headerEnd != std::string::npos && data.size() >= need) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return "";
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data.substr(0, data.find(' '));
}

}  // namespace

SilentHttpServer::SilentHttpServer(Mode mode, int answered)
    : SilentHttpServer(
          mode, std::vector<Answer>(static_cast<std::size_t>(std::max(answered, 0)),
                                    Answer{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                           "Content-Length: 2\r\n\r\n{}"})) {}

SilentHttpServer::SilentHttpServer(Mode mode, std::vector<Answer> answers)
    : mode_(mode), answers_(std::move(answers)) {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listenFd_ < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listenFd_, 16) != 0) {
    ::close(listenFd_);
    throw std::runtime_error("bind/listen on 127.0.0.1:0 failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

SilentHttpServer::~SilentHttpServer() {
  stopping_ = true;
  // Wakes the accept() and every recv() below.
  ::shutdown(listenFd_, SHUT_RDWR);
  thread_.join();
  ::close(listenFd_);
  std::vector<std::thread> conversations;
  {
    std::lock_guard lock(mu_);
    for (const int fd : open_) ::shutdown(fd, SHUT_RDWR);
    conversations.swap(conversations_);
  }
  for (std::thread& t : conversations) t.join();
  for (const int fd : open_) ::close(fd);
}

std::string SilentHttpServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

int SilentHttpServer::received(const std::string& method) const {
  std::lock_guard lock(mu_);
  const auto it = received_.find(method);
  return it == received_.end() ? 0 : it->second;
}

void SilentHttpServer::serve() {
  while (!stopping_) {
    const int fd = ::accept(listenFd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard lock(mu_);
    open_.push_back(fd);
    conversations_.emplace_back([this, fd] { converse(fd); });
  }
}

int SilentHttpServer::connections() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(open_.size());
}

void SilentHttpServer::converse(int fd) {
  // A client that connects and never writes must not stall the test forever.
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  for (;;) {
    const std::string method = readRequest(fd);
    if (method.empty()) return;
    std::optional<Answer> answer;
    {
      std::lock_guard lock(mu_);
      ++received_[method];
      if (answered_ < answers_.size()) answer = answers_[answered_++];
    }
    // Counted before the client can notice anything: it sees the answer, the close or its own
    // timeout only after this point.
    if (!answer) {
      // Closed by the destructor when held; a shutdown now is the lost answer.
      if (mode_ == Mode::kCloseWithoutAnswer) ::shutdown(fd, SHUT_RDWR);
      return;
    }
    std::string raw = answer->raw;
    // A HEAD answer says how long the body would be and leaves it out (RFC 9110 9.3.2).
    if (method == "HEAD") raw = raw.substr(0, raw.find("\r\n\r\n") + 4);
    if (::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) < 0) return;
    if (answer->closeAfter) {
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
  }
}

}  // namespace envop::fakes
