// Drives headless Chromium through lrhub's dashboard and upload form for
// tests/e2e_browser.sh, over the DevTools protocol on a pipe
// (--remote-debugging-pipe: NUL-separated JSON on file descriptors 3 and 4),
// so it needs nothing but node and Debian's chromium.
//
//   node tests/browser.js CHROMIUM ROOT_URL KEY SECRET FILE OUTDIR
//
// Answers the server's Basic authentication challenge like a user typing
// the credential (Fetch.authRequired), opens the dashboard, checks its
// markup as rendered (language, headings, charts with their text
// alternatives, the stylesheet and the print stylesheet applied, the skip
// link first in the keyboard order), opens the upload form, puts FILE in
// its file input, clicks the submit button with the mouse, and reads the
// report page the browser lands on. Saves screenshots in OUTDIR and prints
// what it saw as one JSON object.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const [chromium, root, user, pass, file, outdir] = process.argv.slice(2);
if (!outdir) {
	console.error('usage: node browser.js CHROMIUM ROOT_URL KEY SECRET FILE OUTDIR');
	process.exit(2);
}
fs.mkdirSync(outdir, { recursive: true });

const browser = spawn(chromium, [
	'--headless=new', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu',
	'--no-first-run', '--no-default-browser-check', '--disable-extensions',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--password-store=basic', '--use-mock-keychain', '--hide-scrollbars',
	'--window-size=1200,1600', `--user-data-dir=${path.join(outdir, 'profile')}`, 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let stderr = '';
browser.stderr.on('data', (d) => { stderr += d.toString(); if (stderr.length > 20000) stderr = stderr.slice(-10000); });

const toBrowser = browser.stdio[3];
const fromBrowser = browser.stdio[4];
let pending = Buffer.alloc(0);
let nextId = 1;
const calls = new Map();
const waiters = [];
let authAnswered = 0;
let sessionId;

function send(method, params = {}, session = sessionId) {
	const id = nextId++;
	const msg = { id, method, params };
	if (session) msg.sessionId = session;
	toBrowser.write(JSON.stringify(msg) + '\0');
	return new Promise((resolve, reject) => calls.set(id, { resolve, reject, method }));
}

function waitFor(method, timeoutMs = 20000) {
	return new Promise((resolve, reject) => {
		const w = { method, resolve };
		waiters.push(w);
		setTimeout(() => {
			const i = waiters.indexOf(w);
			if (i >= 0) { waiters.splice(i, 1); reject(new Error(`timed out waiting for ${method}`)); }
		}, timeoutMs);
	});
}

function onMessage(msg) {
	if (msg.id && calls.has(msg.id)) {
		const c = calls.get(msg.id);
		calls.delete(msg.id);
		if (msg.error) c.reject(new Error(`${c.method}: ${msg.error.message}`));
		else c.resolve(msg.result);
		return;
	}
	if (msg.method === 'Fetch.requestPaused') {
		send('Fetch.continueRequest', { requestId: msg.params.requestId }, msg.sessionId).catch(() => {});
	} else if (msg.method === 'Fetch.authRequired') {
		authAnswered++;
		send('Fetch.continueWithAuth', {
			requestId: msg.params.requestId,
			authChallengeResponse: { response: 'ProvideCredentials', username: user, password: pass },
		}, msg.sessionId).catch(() => {});
	}
	for (let i = 0; i < waiters.length; i++) {
		if (waiters[i].method === msg.method) {
			const w = waiters.splice(i, 1)[0];
			w.resolve(msg.params);
			break;
		}
	}
}

fromBrowser.on('data', (chunk) => {
	pending = Buffer.concat([pending, chunk]);
	let nul;
	while ((nul = pending.indexOf(0)) >= 0) {
		const text = pending.subarray(0, nul).toString('utf8');
		pending = pending.subarray(nul + 1);
		onMessage(JSON.parse(text));
	}
});

async function evaluate(expression) {
	const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
	if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.text}: ${expression}`);
	return r.result.value;
}

async function navigate(url) {
	const loaded = waitFor('Page.loadEventFired');
	const r = await send('Page.navigate', { url });
	if (r.errorText) throw new Error(`navigate ${url}: ${r.errorText}`);
	await loaded;
}

async function screenshot(name) {
	const metrics = await send('Page.getLayoutMetrics');
	const height = Math.min(Math.ceil(metrics.cssContentSize.height), 6000);
	const shot = await send('Page.captureScreenshot', {
		format: 'png', captureBeyondViewport: true,
		clip: { x: 0, y: 0, width: 1200, height, scale: 1 },
	});
	const where = path.join(outdir, name);
	fs.writeFileSync(where, Buffer.from(shot.data, 'base64'));
	return where;
}

// The center of the element selector matches, in page coordinates of the viewport.
async function centerOf(selector) {
	return evaluate(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
		e.scrollIntoView({ block: 'center' }); const r = e.getBoundingClientRect();
		return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`);
}

async function click(selector) {
	const { x, y } = await centerOf(selector);
	for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased'])
		await send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 });
}

async function main() {
	const seen = {};
	const { targetId } = await send('Target.createTarget', { url: 'about:blank' }, undefined);
	({ sessionId } = await send('Target.attachToTarget', { targetId, flatten: true }, undefined));
	await send('Page.enable');
	await send('Runtime.enable');
	await send('Fetch.enable', { handleAuthRequests: true, patterns: [{ urlPattern: '*' }] });

	// The dashboard: it asks for credentials, and the browser gives them.
	await navigate(`${root}/?course=mecc&as_of=2025-04-30&target=0.9:frontline:2028-03-31`);
	seen.auth_challenges = authAnswered;
	Object.assign(seen, await evaluate(`(() => {
		const svgs = [...document.querySelectorAll('main svg')];
		const header = document.querySelector('header.site');
		return {
			dashboard_title: document.title,
			lang: document.documentElement.lang,
			h1: document.querySelector('h1').textContent,
			h2: [...document.querySelectorAll('h2')].map((h) => h.textContent),
			charts: svgs.length,
			charts_labelled: svgs.filter((s) => s.getAttribute('role') === 'img' &&
				document.getElementById(s.getAttribute('aria-labelledby'))).length,
			bars: document.querySelectorAll('svg rect.bar').length,
			target_line: document.querySelectorAll('svg line.target').length,
			captions: [...document.querySelectorAll('table caption')].map((c) => c.textContent),
			header_background: getComputedStyle(header).backgroundColor,
			runs_rows: document.querySelectorAll('#runs-h ~ table tbody tr').length,
		};
	})()`));
	// The keyboard: the first Tab reaches the skip link.
	await send('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Tab', code: 'Tab', windowsVirtualKeyCode: 9 });
	await send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Tab', code: 'Tab', windowsVirtualKeyCode: 9 });
	seen.first_tab = await evaluate('document.activeElement.textContent');
	seen.dashboard_png = await screenshot('dashboard.png');
	// On paper: the print stylesheet hides the navigation and the filters.
	await send('Emulation.setEmulatedMedia', { media: 'print' });
	seen.print_header_display = await evaluate("getComputedStyle(document.querySelector('header.site')).display");
	seen.print_filters_display = await evaluate("getComputedStyle(document.querySelector('form.filters')).display");
	await send('Emulation.setEmulatedMedia', { media: '' });

	// The upload form, filled and sent as a person would.
	await navigate(`${root}/upload`);
	seen.form_title = await evaluate('document.title');
	seen.form_label = await evaluate("document.querySelector('label[for=file]').textContent");
	const doc = await send('DOM.getDocument', { depth: 0 });
	const input = await send('DOM.querySelector', { nodeId: doc.root.nodeId, selector: 'input[type=file]' });
	await send('DOM.setFileInputFiles', { nodeId: input.nodeId, files: [path.resolve(file)] });
	seen.chosen = await evaluate("document.querySelector('input[type=file]').files[0].name");
	const landed = waitFor('Page.loadEventFired', 30000);
	await click('button[type=submit]');
	await landed;
	Object.assign(seen, await evaluate(`(() => {
		const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent.trim() : null; };
		return {
			report_path: location.pathname,
			report_title: document.title,
			report_h1: text('h1'),
			outcome: text('#outcome'),
			org: text('#org'),
			file: text('#file'),
			format: text('#format'),
			accepted: Number(text('#accepted')),
			duplicates: Number(text('#duplicates')),
			conflicts: Number(text('#conflicts')),
			rejected: Number(text('#rejected')),
			reject_rows: [...document.querySelectorAll('#rejects tbody tr')].map((r) => r.textContent),
		};
	})()`));
	seen.report_png = await screenshot('upload-report.png');

	// The dashboard now lists the upload's run.
	await navigate(`${root}/`);
	seen.dashboard_after = await evaluate("[...document.querySelectorAll('#runs-h ~ table tbody tr')].map((r) => r.textContent).join('\\n')");
	return seen;
}

const deadline = setTimeout(() => {
	console.error('browser.js: timed out after 50 s');
	console.error(stderr.slice(-2000));
	browser.kill('SIGKILL');
	process.exit(1);
}, 50000);

main().then((seen) => {
	clearTimeout(deadline);
	console.log(JSON.stringify(seen, null, 1));
	send('Browser.close', {}, undefined).catch(() => {});
	setTimeout(() => { browser.kill('SIGKILL'); process.exit(0); }, 1000).unref();
	browser.on('exit', () => process.exit(0));
}).catch((e) => {
	clearTimeout(deadline);
	console.error(`browser.js: ${e.message}`);
	console.error(stderr.slice(-2000));
	browser.kill('SIGKILL');
	process.exit(1);
});
