// useSubmit(): the state a form needs around one API call.
//   const { fields, error, busy, run } = useSubmit();
//   const reply = await run(() => api.post('/auth/login', body));  // undefined on failure
//   <el-form-item :error="fields.login"> … <ErrorBox :error="error" />
// fields holds the server's per-field messages (details[].field → message), error the
// whole ApiError (shown as a sentence that says what to do next), busy the call in
// flight (bind it to the submit button's loading state).
import { reactive, ref } from 'vue';
import { ApiError } from './api.js';

export function useSubmit() {
  const fields = reactive({});
  const error = ref(null);
  const busy = ref(false);
  function clear() {
    for (const k of Object.keys(fields)) delete fields[k];
    error.value = null;
  }
  async function run(fn) {
    clear();
    busy.value = true;
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      error.value = e;
      Object.assign(fields, e.fields);
      return undefined;
    } finally {
      busy.value = false;
    }
  }
  return { fields, error, busy, run, clear };
}
