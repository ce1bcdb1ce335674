// Expected holds a value or the error that prevented it. C++20 has no std::expected,
// and no exception may leave the layers that talk to the outside (kube/, helm/,
// harbor/), so their results are values of this type.
#pragma once

#include <utility>
#include <variant>

namespace envop::util {

template <typename T, typename E>
class Expected final {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Expected(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace envop::util
