import Testing
@testable import Contention
