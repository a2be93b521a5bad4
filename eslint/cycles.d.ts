/** Every circle of relative imports among the .ts files under `dir`, as lists of paths relative to `root`. */
export declare function findCycles(dir: string, root?: string): string[][];
