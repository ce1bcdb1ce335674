// SilentHttpServer is a loopback TCP server that reads each HTTP request and does not answer it:
// it either closes the connection (the response was lost, as when an apiserver dies mid-request)
// or holds it open (an apiserver that hangs). The first `answered` requests get a keep-alive
// 200 "{}" instead, so that a client has a pooled connection to reuse. It counts the requests
// that arrived by method, so a test can tell whether a client sent a request twice. Or the first
// requests get the raw answers given (a watch's chunked stream, an error), each optionally
// followed by closing the connection. Binds 127.0.0.1:0; one thread per connection.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace envop::fakes {

class SilentHttpServer final {
 public:
  enum class Mode { kCloseWithoutAnswer, kHoldWithoutAnswer };
  struct Answer {
    std::string raw;  // status line, headers and body as sent
    bool closeAfter = false;
  };

  explicit SilentHttpServer(Mode mode, int answered = 0);
  SilentHttpServer(Mode mode, std::vector<Answer> answers);
  ~SilentHttpServer();
  SilentHttpServer(const SilentHttpServer&) = delete;
  SilentHttpServer& operator=(const SilentHttpServer&) = delete;

  // "http://127.0.0.1:<port>"
  std::string url() const;
  // Requests whose headers (and body) were read completely, by method.
  int received(const std::string& method) const;
  // Connections accepted so far.
  int connections() const;

 private:
  void serve();
  void converse(int fd);

  Mode mode_;
  std::vector<Answer> answers_;
  std::size_t answered_ = 0;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::map<std::string, int> received_;
  std::vector<int> open_;  // every accepted connection, closed by the destructor
  std::vector<std::thread> conversations_;
  std::thread thread_;
};

}  // namespace envop::fakes
