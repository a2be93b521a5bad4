import type { ObjectStore } from './store.js';

/**
 * The store, telling `onFailure` the operation of every call that fails (the
 * service counts them: petcut_storage_errors_total). A decorator here, beside
 * the adapters, so nothing above storage needs to know their methods.
 */
export function countingStore(store: ObjectStore, onFailure: (operation: string) => void): ObjectStore {
  const counted = <A extends unknown[], R>(operation: string, call: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    try {
      return await call(...args);
    } catch (error) {
      onFailure(operation);
      throw error;
    }
  };
  // No spread of `store`: a method added to ObjectStore fails to compile here until it is counted.
  return {
    name: store.name,
    put: counted('put', store.put.bind(store)),
    get: counted('get', store.get.bind(store)),
    head: counted('head', store.head.bind(store)),
    list: counted('list', store.list.bind(store)),
    delete: counted('delete', store.delete.bind(store)),
    copy: counted('copy', store.copy.bind(store)),
    ping: counted('ping', store.ping.bind(store)),
    ensureLifecycle: counted('lifecycle', store.ensureLifecycle.bind(store)),
    ...(store.signedUrl ? { signedUrl: counted('sign', store.signedUrl.bind(store)) } : {}),
  };
}
