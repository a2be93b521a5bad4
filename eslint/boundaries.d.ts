import type { ESLint } from 'eslint';

export declare const ROOMS: Readonly<Record<string, readonly string[]>>;
export declare const DOORS: Readonly<Record<string, string>>;
export declare const ADAPTERS: Readonly<Record<string, readonly string[]>>;
export declare const WEB: { readonly room: string; readonly forbidden: readonly string[] };
declare const plugin: ESLint.Plugin;
export default plugin;
