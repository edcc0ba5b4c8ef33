import ArgumentParser
struct Run: ParsableCommand {}
