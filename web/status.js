// Shows what the server reports about itself; the full portal arrives with the web UI.
async function show(id, url, pick) {
  const el = document.getElementById(id);
  try {
    const res = await fetch(url, { headers: { Accept: 'application/json' } });
    const body = await res.json();
    el.textContent = pick(body, res);
  } catch (e) {
    el.textContent = '无法连接 / unreachable';
  }
}
show('server', '/api/v1/version', (b) => `ehall ${b.version}`);
show('db', '/readyz', (b, res) => (res.ok ? `${b.engine}, schema ${b.schema}` : `${b.status}: ${b.reason}`));
