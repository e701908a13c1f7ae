/**
 * A scripted OpenAI-compatible chat model on 127.0.0.1, for running n8n's AI Agent with our node as
 * its tool without reaching any real model. It speaks the Chat Completions API (`POST
 * /v1/chat/completions`, JSON or server-sent events): while the conversation has no tool result yet,
 * it calls the tool the test names with the arguments the test gives; once a tool result is in the
 * conversation, it answers with a text that quotes it. Every request is kept for assertions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatTool {
	type: 'function';
	function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export interface ChatMessage {
	role: 'system' | 'user' | 'assistant' | 'tool';
	content?: string | Array<{ type: string; text?: string }> | null;
	tool_call_id?: string;
	tool_calls?: unknown[];
}

export interface ChatRequest {
	model: string;
	messages: ChatMessage[];
	tools?: ChatTool[];
	stream?: boolean;
}

export interface Script {
	/** The tool to call (its function name as n8n offers it). */
	tool: string;
	/** The arguments of the call. */
	arguments: Record<string, unknown>;
}

function text(content: ChatMessage['content']): string {
	if (typeof content === 'string') return content;
	return (content ?? []).map((part) => part.text ?? '').join('');
}

export class FakeChatModel {
	readonly requests: ChatRequest[] = [];
	script: Script | undefined;
	private server?: Server;
	private calls = 0;

	get url(): string {
		const { port } = this.server!.address() as AddressInfo;
		return `http://127.0.0.1:${port}/v1`;
	}

	async start(): Promise<void> {
		this.server = createServer((req, res) => {
			this.handle(req, res).catch((error: Error) => {
				res.writeHead(500, { 'content-type': 'application/json' });
				res.end(JSON.stringify({ error: { message: error.message, type: 'server_error' } }));
			});
		});
		await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
	}

	async stop(): Promise<void> {
		this.server?.closeAllConnections();
		await new Promise<void>((resolve) =>
			this.server ? this.server.close(() => resolve()) : resolve(),
		);
	}

	private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const chunks: Buffer[] = [];
		for await (const chunk of req) chunks.push(chunk as Buffer);
		if (req.method === 'GET' && req.url?.endsWith('/models')) {
			res.writeHead(200, { 'content-type': 'application/json' });
			res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake-model', object: 'model' }] }));
			return;
		}
		if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
			res.writeHead(404, { 'content-type': 'application/json' });
			res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
			return;
		}
		const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequest;
		this.requests.push(request);
		const toolResult = request.messages.find((m) => m.role === 'tool');
		const id = `chatcmpl-${++this.calls}`;
		let message: Record<string, unknown>;
		let finish: 'stop' | 'tool_calls';
		if (!toolResult) {
			if (!this.script) throw new Error('the fake model has no script');
			const offered = (request.tools ?? []).map((t) => t.function.name);
			if (!offered.includes(this.script.tool)) {
				throw new Error(`tool ${this.script.tool} not offered; offered: ${offered.join(', ')}`);
			}
			message = {
				role: 'assistant',
				content: null,
				tool_calls: [
					{
						index: 0,
						id: `call_${this.calls}`,
						type: 'function',
						function: { name: this.script.tool, arguments: JSON.stringify(this.script.arguments) },
					},
				],
			};
			finish = 'tool_calls';
		} else {
			message = { role: 'assistant', content: `Done. The tool said: ${text(toolResult.content)}` };
			finish = 'stop';
		}
		const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
		const created = Math.floor(Date.now() / 1000);
		if (request.stream) {
			res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
			const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
			const base = { id, object: 'chat.completion.chunk', created, model: request.model };
			send({ ...base, choices: [{ index: 0, delta: message, finish_reason: null }] });
			send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }], usage });
			res.end('data: [DONE]\n\n');
			return;
		}
		res.writeHead(200, { 'content-type': 'application/json' });
		res.end(
			JSON.stringify({
				id,
				object: 'chat.completion',
				created,
				model: request.model,
				choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
				usage,
			}),
		);
	}
}
