import { dlqTopic, topics } from '@nuri/contracts/events';

/** The topics channel-user writes and reads; tests substitute their own names. */
export interface ChannelTopics {
  depositRequested: string;
  depositSettled: string;
}

export const defaultTopics: ChannelTopics = {
  depositRequested: topics.depositRequested,
  depositSettled: topics.depositSettled,
};

/** Every topic the service touches, the DLQ of what it consumes included (auto-create is off). */
export function topicsToEnsure(names: ChannelTopics): string[] {
  return [names.depositRequested, names.depositSettled, dlqTopic(names.depositSettled)];
}

export const eventSource = 'channel-user';
