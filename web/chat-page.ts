// The chat page the gateway serves at /chat: the AI SDK's own client (AbstractChat + DefaultChatTransport from
// `ai`) talking to turnflow's /v1/chat endpoints, rendered with plain DOM calls. Bundled by the gateway with esbuild.
import {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  type ChatState,
  type ChatStatus,
  type DynamicToolUIPart,
  type UIMessage,
} from 'ai';

/** ChatState that re-renders the page on every change (what `@ai-sdk/react` does with React state). */
class PageChatState implements ChatState<UIMessage> {
  status: ChatStatus = 'ready';
  error: Error | undefined = undefined;

  constructor(
    public messages: UIMessage[],
    private readonly changed: () => void,
  ) {}

  pushMessage = (message: UIMessage): void => {
    this.messages = [...this.messages, message];
    this.changed();
  };
  popMessage = (): void => {
    this.messages = this.messages.slice(0, -1);
    this.changed();
  };
  replaceMessage = (index: number, message: UIMessage): void => {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
    this.changed();
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
}

/** A chat whose state is {@link PageChatState}; status changes re-render too. */
class PageChat extends AbstractChat<UIMessage> {
  constructor(id: string, token: string, messages: UIMessage[], changed: () => void) {
    const state = new PageChatState(messages, changed);
    const statusState = new Proxy(state, {
      set(target, key, value) {
        Reflect.set(target, key, value);
        if (key === 'status' || key === 'error') changed();
        return true;
      },
    });
    super({
      id,
      state: statusState,
      transport: new DefaultChatTransport({ api: '/v1/chat', headers: { Authorization: `Bearer ${token}` } }),
      // Once every call waiting for approval has an answer, the decisions go to the server and the answer continues.
      sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
    });
  }
}

const $ = <T extends HTMLElement>(selector: string): T => {
  const element = document.querySelector<T>(selector);
  if (!element) throw new Error(`missing ${selector}`);
  return element;
};

function el(tag: string, className: string, text?: string): HTMLElement {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function button(className: string, label: string, onClick: () => void): HTMLElement {
  const b = el('button', className, label) as HTMLButtonElement;
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

function renderTool(chat: PageChat, part: DynamicToolUIPart): HTMLElement {
  const box = el('div', `tool tool-${part.state}`);
  box.dataset['toolCallId'] = part.toolCallId;
  box.append(el('div', 'tool-name', `tool ${part.toolName}(${JSON.stringify(part.input ?? {})})`));
  const approval = part.approval;
  if (part.state === 'approval-requested' && approval) {
    // A call waiting for the person: its arguments are above; the answer goes back with the message.
    if (approval.requestReason) box.append(el('div', 'tool-reason', approval.requestReason));
    const decide = (approved: boolean) => () => void chat.addToolApprovalResponse({ id: approval.id, approved });
    box.append(button('approve', 'Approve', decide(true)), button('deny', 'Deny', decide(false)));
  } else if (part.state === 'approval-responded') {
    box.append(el('div', 'tool-decision', approval?.approved ? '✓ approved · running' : '✗ denied'));
  } else if (part.state === 'output-denied') {
    box.append(el('div', 'tool-denied', `✗ denied${approval?.reason ? `: ${approval.reason}` : ''}`));
  } else if (part.state === 'output-available') {
    if (approval?.approved) box.append(el('div', 'tool-decision', '✓ approved'));
    box.append(el('div', 'tool-output', `→ ${JSON.stringify(part.output)}`));
  } else if (part.state === 'output-error') box.append(el('div', 'tool-error', `✗ ${part.errorText}`));
  else box.append(el('div', 'tool-running', '… running'));
  return box;
}

function render(chat: PageChat): void {
  const list = $('#messages');
  list.replaceChildren(
    ...chat.messages.map((message) => {
      const item = el('div', `message ${message.role}`);
      item.dataset['messageId'] = message.id;
      for (const part of message.parts) {
        if (part.type === 'text') item.append(el('div', 'text', part.text));
        else if (part.type === 'dynamic-tool') item.append(renderTool(chat, part));
      }
      return item;
    }),
  );
  const busy = chat.status === 'submitted' || chat.status === 'streaming';
  $('#status').textContent = chat.error ? `error: ${chat.error.message}` : chat.status;
  $<HTMLButtonElement>('#send').disabled = busy;
  $<HTMLButtonElement>('#stop').disabled = !busy;
  list.scrollTop = list.scrollHeight;
}

async function main(): Promise<void> {
  // The token comes from the address (#token=…) once and is kept; the chat id lives in ?chat=, so a reload keeps it.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) localStorage.setItem('turnflow-token', fromHash);
  const token = fromHash ?? localStorage.getItem('turnflow-token') ?? '';
  const url = new URL(location.href);
  let chatId = url.searchParams.get('chat');
  if (!chatId) {
    chatId = `chat-${crypto.randomUUID()}`;
    url.searchParams.set('chat', chatId);
    history.replaceState(null, '', url);
  }
  const response = await fetch(`/v1/chat/${encodeURIComponent(chatId)}/messages`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  const messages = response.ok ? ((await response.json()) as UIMessage[]) : [];
  // The chat re-renders through `changed` from its constructor on: it must find the chat once there is one.
  const ref: { chat?: PageChat } = {};
  const current = new PageChat(chatId, token, messages, () => {
    if (ref.chat) render(ref.chat);
  });
  ref.chat = current;
  render(current);

  $<HTMLFormElement>('#composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>('#input');
    const text = input.value.trim();
    if (text === '') return;
    input.value = '';
    void current.sendMessage({ text });
  });
  // Stop generating on the server (the answer so far is kept); the stream then ends by itself with `finish`.
  $<HTMLButtonElement>('#stop').addEventListener('click', () => {
    void fetch(`/v1/chat/${encodeURIComponent(current.id)}/stop`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
  });
  // After a reload: the running answer, replayed from its start (204, nothing, when no turn runs).
  await current.resumeStream();
}

void main();
