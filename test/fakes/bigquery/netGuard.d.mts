export function isLoopback(host: string | undefined): boolean;
export function netViolations(): string[];
