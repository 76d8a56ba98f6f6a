// A mistake on vtepctl's command line: printed with exit code 2. A module of its own so that
// what vtepctl does before it knows the command (--version, flags) loads no verb and no schema.
export class UsageError extends Error {}
