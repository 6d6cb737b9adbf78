# expect: FORGET_UPDATE_SWAPPED
concat = np.concatenate((a_prev, xt), axis=0)
forget = sigmoid(np.dot(Wf, concat) + bf)
update = sigmoid(np.dot(Wi, concat) + bi)
candidate = np.tanh(np.dot(Wc, concat) + bc)
c_next = update * c_prev + forget * candidate
ot = sigmoid(np.dot(Wo, concat) + bo)
a_next = ot * np.tanh(c_next)
yt_pred = softmax(np.dot(Wy, a_next) + by)
ft, it, cct = forget, update, candidate
