import Hummingbird

/// Hummingbird's response body, by a name that does not collide with the engine's `ResponseBody`.
typealias HTTPBody = ResponseBody
