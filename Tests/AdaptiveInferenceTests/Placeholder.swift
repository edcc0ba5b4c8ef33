// Placeholder so the test target builds until tests land.
import Testing
